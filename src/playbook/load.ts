import { readFile } from 'node:fs/promises';
import { isPair, isSeq, LineCounter, type Node, parseDocument, visit, type YAMLError } from 'yaml';
import type { Diagnostic } from '../errors.js';
import { displayPath, keyText, type Path, PlaybookSource } from './source.js';

export interface LoadResult {
  /** Absent when the file could not be read, or is too broken for the schema check to say anything useful. */
  readonly source: PlaybookSource | undefined;
  /** The YAML problems (syntax, tabs, duplicate keys), all at once. */
  readonly diagnostics: readonly Diagnostic[];
}

/** Reads and parses a playbook, keeping every node's position. */
export async function loadPlaybookSource(file: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    return { source: undefined, diagnostics: [{ file, line: 1, col: 1, message: readFailure(error) }] };
  }
  return parsePlaybookText(file, text);
}

/** Parses playbook text that is already in memory; `file` is only used in diagnostics. */
export function parsePlaybookText(file: string, text: string): LoadResult {
  const lines = new LineCounter();
  // Duplicate keys are found below instead, to name both places.
  const document = parseDocument(text, { lineCounter: lines, keepSourceTokens: true, uniqueKeys: false });
  const source = new PlaybookSource(file, document, lines);
  const diagnostics = document.errors.map((error) => yamlDiagnostic(source, text, error));
  diagnostics.push(...duplicateKeys(source));
  if (document.contents === null) {
    diagnostics.push(
      source.diagnosticAtOffset(
        0,
        'the playbook is empty; it needs at least name:, target: and hosts: (`memplay schema` prints the format)',
      ),
    );
  }
  // After a syntax error the document is a guess; checking it against the schema
  // would mostly report the syntax error again in other words.
  const readable = document.errors.length === 0 && document.contents !== null;
  return { source: readable ? source : undefined, diagnostics };
}

function readFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return 'cannot read the playbook: no such file; check the path';
    case 'EISDIR':
      return 'cannot read the playbook: this is a folder; give the path of a .yml file';
    case 'EACCES':
    case 'EPERM':
      return 'cannot read the playbook: permission denied; check the file permissions';
    default:
      return `cannot read the playbook: ${(error as Error).message}`;
  }
}

function yamlDiagnostic(source: PlaybookSource, text: string, error: YAMLError): Diagnostic {
  const offset = Math.min(error.pos[0], text.length);
  // The yaml library appends "at line L, column C:" and a code excerpt; the position
  // already says that.
  const detail = (error.message.split(/ at line \d+, column \d+/)[0] ?? error.message).trim();
  return source.diagnosticAtOffset(offset, yamlMessage(error.code, detail));
}

function yamlMessage(code: YAMLError['code'], detail: string): string {
  switch (code) {
    case 'TAB_AS_INDENT':
      return 'YAML syntax: a tab is used for indentation; YAML allows only spaces there — replace the tab with spaces';
    case 'MULTIPLE_DOCS':
      return 'YAML syntax: the file holds more than one document (a second "---"); a playbook is one document';
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
    case 'UNEXPECTED_TOKEN':
      return `YAML syntax: ${lowerFirst(detail)}; check the indentation and punctuation on this line and the lines before it`;
    default:
      return `YAML syntax: ${lowerFirst(detail)}`;
  }
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

function duplicateKeys(source: PlaybookSource): Diagnostic[] {
  const found: Diagnostic[] = [];
  visit(source.document, {
    Map(_key, map, ancestry) {
      const seen = new Map<string, Node>();
      for (const pair of map.items) {
        const name = keyText(pair.key);
        const first = seen.get(name);
        const key = pair.key as Node | null;
        if (first && key?.range) {
          const firstLine = first.range ? source.position(first.range[0]).line : undefined;
          const where = displayPath(pathOf(ancestry, map));
          found.push(
            source.diagnosticAtOffset(
              key.range[0],
              `${where ? `${where}: ` : ''}duplicate key "${name}" (first set on line ${firstLine}); ` +
                'YAML would keep only the last one — remove or merge one of them',
            ),
          );
        } else if (key) {
          seen.set(name, key);
        }
      }
    },
  });
  return found;
}

// The path of a node from the visitor's ancestry (document, then maps, pairs and lists).
function pathOf(ancestry: readonly unknown[], node: unknown): Path {
  const path: (string | number)[] = [];
  for (const [i, step] of ancestry.entries()) {
    if (isPair(step)) path.push(keyText(step.key));
    else if (isSeq(step)) path.push(step.items.indexOf(ancestry[i + 1] ?? node));
  }
  return path;
}
