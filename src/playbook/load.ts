import { isPair, isSeq, LineCounter, type Node, parseDocument, visit, type YAMLError } from 'yaml';
import type { Diagnostic } from '../errors.js';
import { MAX_PLAYBOOK_BYTES, readTextFile, UnreadableFile } from './read-text-file.js';
import { displayPath, keyText, type Path, PlaybookSource } from './source.js';
import { aliasProblems } from './yaml-aliases.js';

export interface LoadResult {
  /** Absent when the file could not be read, or is too broken for the schema check to say anything useful. */
  readonly source: PlaybookSource | undefined;
  /** The YAML problems (syntax, tabs, duplicate keys), all at once. */
  readonly diagnostics: readonly Diagnostic[];
}

/** Reads and parses a playbook (`-`: standard input), keeping every node's position. */
export async function loadPlaybookSource(file: string): Promise<LoadResult> {
  let bytes: Buffer;
  try {
    bytes = await readTextFile(file, MAX_PLAYBOOK_BYTES);
  } catch (error) {
    return { source: undefined, diagnostics: [{ file, line: 1, col: 1, message: readFailure(error) }] };
  }
  const badByte = notUtf8Problem(file, bytes, 'playbook');
  if (badByte !== undefined) return { source: undefined, diagnostics: [badByte] };
  return parsePlaybookText(file, bytes.toString('utf8'));
}

/** Parses playbook text that is already in memory; `file` is only used in diagnostics. */
export function parsePlaybookText(file: string, text: string): LoadResult {
  const parsed = parseYamlText(file, text, 'playbook');
  const { source, diagnostics } = parsed;
  const { document } = source;
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
  const readable = parsed.readable && document.contents !== null;
  return { source: readable ? source : undefined, diagnostics };
}

/**
 * Parses a YAML file (a playbook, a YAML inventory) keeping every node's position, with
 * its syntax problems, alias problems and duplicate keys; `what` names the file in
 * messages. `readable`: the document may be turned into data (no syntax or alias problem).
 */
export function parseYamlText(
  file: string,
  text: string,
  what: 'playbook' | 'inventory',
): { source: PlaybookSource; diagnostics: Diagnostic[]; readable: boolean } {
  const lines = new LineCounter();
  // Duplicate keys are found below instead, to name both places.
  const document = parseDocument(text, { lineCounter: lines, keepSourceTokens: true, uniqueKeys: false });
  const source = new PlaybookSource(file, document, lines);
  const diagnostics = document.errors.map((error) => yamlDiagnostic(source, text, error, what));
  // After a syntax error the nodes are a guess; their aliases would only add noise.
  const aliases = document.errors.length === 0 ? aliasProblems(source) : [];
  diagnostics.push(...aliases, ...duplicateKeys(source));
  return { source, diagnostics, readable: document.errors.length === 0 && aliases.length === 0 };
}

/** Where `bytes` stop being UTF-8, as a diagnostic naming the file as `what`; undefined when they are UTF-8. */
export function notUtf8Problem(
  file: string,
  bytes: Buffer,
  what: 'playbook' | 'inventory',
): Diagnostic | undefined {
  const badByte = firstInvalidUtf8Byte(bytes);
  return badByte === undefined ? undefined : notUtf8(file, bytes, badByte, what);
}

// Decoding replaces bytes that are not UTF-8 with U+FFFD: a prefix or argument
// in another encoding would silently become a different one. The smallest
// prefix that fails to decode ends at the first bad byte (stream mode lets a
// prefix end inside a character).
function firstInvalidUtf8Byte(bytes: Buffer): number | undefined {
  const decodes = (length: number) => {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, length), {
        stream: length < bytes.length,
      });
      return true;
    } catch {
      return false;
    }
  };
  if (decodes(bytes.length)) return undefined;
  let low = 0;
  let high = bytes.length;
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (decodes(middle)) low = middle;
    else high = middle;
  }
  const failed = high - 1;
  // A plain byte or a lead byte can only fail by cutting short a character that
  // began before it (é in Latin-1 followed by a quote): point at that start.
  const byte = bytes[failed] as number;
  if (byte < 0x80 || (byte >= 0xc2 && byte <= 0xf4)) {
    for (let back = failed - 1; back >= Math.max(0, failed - 3); back--) {
      const earlier = bytes[back] as number;
      if (earlier >= 0xc0) return back;
      if ((earlier & 0xc0) !== 0x80) break;
    }
  }
  return failed;
}

function notUtf8(file: string, bytes: Buffer, offset: number, what: string): Diagnostic {
  const before = bytes.subarray(0, offset).toString('utf8');
  const line = before.split('\n').length;
  const col = before.length - before.lastIndexOf('\n');
  const byte = (bytes[offset] as number).toString(16).padStart(2, '0');
  return {
    file,
    line,
    col,
    message: `the ${what} is not UTF-8: byte 0x${byte} here cannot be read as text, and would silently become a different character — save the file as UTF-8`,
  };
}

function readFailure(error: unknown): string {
  if (error instanceof UnreadableFile) return `cannot read the playbook: ${error.message}`;
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

function yamlDiagnostic(source: PlaybookSource, text: string, error: YAMLError, what: string): Diagnostic {
  const offset = Math.min(error.pos[0], text.length);
  // The yaml library appends "at line L, column C:" and a code excerpt; the position
  // already says that.
  const detail = (error.message.split(/ at line \d+, column \d+/)[0] ?? error.message).trim();
  return source.diagnosticAtOffset(offset, yamlMessage(error.code, detail, what));
}

function yamlMessage(code: YAMLError['code'], detail: string, what: string): string {
  switch (code) {
    case 'TAB_AS_INDENT':
      return 'YAML syntax: a tab is used for indentation; YAML allows only spaces there — replace the tab with spaces';
    case 'MULTIPLE_DOCS':
      return `YAML syntax: the file holds more than one document (a second "---"); a ${what} is one document`;
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
