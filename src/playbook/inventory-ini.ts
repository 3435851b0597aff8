import type { Diagnostic } from '../errors.js';
import type { GroupEntry, HostEntry, InventoryTree, InventoryVariable, Spot } from './inventory-tree.js';

// Ansible's INI inventory, read as its `ini` plugin reads it: `[group]` sections of
// host lines (`name key=value …`, split like a shell does, `#` starting a comment),
// `[group:vars]` sections of `key=value` lines (the rest of the line is the value),
// `[group:children]` sections of group names; hosts before any section are ungrouped.

type SectionKind = 'hosts' | 'vars' | 'children';

interface Section {
  readonly entry: MutableGroup;
  readonly kind: SectionKind;
}

interface MutableGroup extends GroupEntry {
  readonly hosts: HostEntry[];
  readonly children: { name: string; at: Spot }[];
  readonly vars: InventoryVariable[];
}

// As Ansible's: a name without `:`, `]` or blanks, then an optional `:type`.
const sectionHeader = /^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$/;

export function parseIniInventory(file: string, text: string): InventoryTree {
  const groups: MutableGroup[] = [];
  const problems: Diagnostic[] = [];
  const problem = (at: Spot, message: string) => problems.push({ file, ...at, message });
  const group = (name: string, at: Spot): MutableGroup => {
    const entry: MutableGroup = { name, at, hosts: [], children: [], vars: [] };
    groups.push(entry);
    return entry;
  };
  let section: Section | undefined;
  // After a section header that cannot be read, its lines are not reported one by one.
  let skipping = false;
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = index + 1;
    const start = raw.search(/\S/);
    if (start < 0 || raw[start] === '#' || raw[start] === ';') continue;
    const trimmed = raw.trim();
    const header = sectionHeader.exec(trimmed);
    if (header) {
      const kind = header[2] ?? 'hosts';
      const at = { line, col: start + 2 };
      if (kind !== 'hosts' && kind !== 'vars' && kind !== 'children') {
        problem(
          { line, col: start + 3 + (header[1] as string).length },
          `section [${header[1]}:${kind}]: "${kind}" is not a section type; use [${header[1]}] for hosts, ` +
            `[${header[1]}:vars] for variables or [${header[1]}:children] for groups`,
        );
        skipping = true;
        continue;
      }
      skipping = false;
      section = { entry: group(header[1] as string, at), kind };
      continue;
    }
    if (trimmed.startsWith('[') && trimmed.endsWith(']')) {
      problem(
        { line, col: start + 1 },
        `${trimmed} is not a section header: write [group], [group:vars] or [group:children], ` +
          'with a name of letters, digits, "_", "." or "-"',
      );
      skipping = true;
      continue;
    }
    if (skipping) continue;
    section ??= { entry: group('ungrouped', { line, col: start + 1 }), kind: 'hosts' };
    if (section.kind === 'vars') {
      const variable = variableLine(raw, line, start);
      if (typeof variable === 'string') problem({ line, col: start + 1 }, variable);
      else section.entry.vars.push(variable);
      continue;
    }
    const words = shellWords(raw);
    if ('problem' in words) {
      problem({ line, col: words.col }, words.problem);
      continue;
    }
    const [first, ...rest] = words;
    if (first === undefined) continue; // only a comment after blanks
    if (section.kind === 'children') {
      if (rest[0] !== undefined) {
        problem(
          { line, col: rest[0].col },
          `[${section.entry.name}:children] lists one group name per line; "${rest[0].text}" follows "${first.text}" — ` +
            'put it on a line of its own, or set variables under [group:vars]',
        );
      }
      section.entry.children.push({ name: first.text, at: { line, col: first.col } });
      continue;
    }
    const vars: InventoryVariable[] = [];
    const port = /^([^:[\]]+):(\d+)$/.exec(first.text);
    // `host:2222`, as Ansible reads it: the port is the host's ansible_port,
    // which a variable later on the line overrides.
    if (port) {
      vars.push({
        name: 'ansible_port',
        value: port[2],
        at: { line, col: first.col + (port[1] as string).length + 1 },
      });
    }
    for (const word of rest) {
      if (word.equals === undefined || word.equals === word.col) {
        problem(
          { line, col: word.col },
          `expected name=value after the host, as in ansible_host=10.0.0.1 (got "${word.text}")`,
        );
        continue;
      }
      const name = word.text.slice(0, word.text.indexOf('='));
      vars.push({ name, value: word.text.slice(name.length + 1), at: { line, col: word.equals + 1 } });
    }
    section.entry.hosts.push({
      pattern: port ? (port[1] as string) : first.text,
      at: { line, col: first.col },
      vars,
    });
  }
  return { groups, problems };
}

// `name=value` in a [group:vars] section: everything after the first `=`, trimmed,
// one pair of quotes around it removed (Ansible evaluates it as a Python literal).
function variableLine(raw: string, line: number, start: number): InventoryVariable | string {
  const equals = raw.indexOf('=');
  const name = equals < 0 ? '' : raw.slice(start, equals).trim();
  if (name === '') {
    return `expected name=value in a [group:vars] section, as in ansible_user=deploy (got "${raw.trim()}")`;
  }
  const after = raw.slice(equals + 1);
  const offset = after.search(/\S/);
  let value = after.trim();
  const quoted = /^(["'])(.*)\1$/.exec(value);
  if (quoted) value = quoted[2] as string;
  return { name, value, at: { line, col: equals + 2 + Math.max(offset, 0) } };
}

interface Word {
  readonly text: string;
  /** 1-based column where the word starts. */
  readonly col: number;
  /** 1-based column of the first `=` outside quotes, if any. */
  readonly equals?: number;
}

/**
 * A host line split as Python's shlex (posix, with comments) splits it, as Ansible
 * does: blanks separate words, quotes and backslashes keep text together, `#`
 * outside quotes ends the line.
 */
function shellWords(raw: string): Word[] | { problem: string; col: number } {
  const words: Word[] = [];
  let i = 0;
  while (i < raw.length) {
    while (i < raw.length && /\s/.test(raw[i] as string)) i++;
    if (i >= raw.length || raw[i] === '#') break;
    const col = i + 1;
    let text = '';
    let equals: number | undefined;
    let comment = false;
    while (i < raw.length && !/\s/.test(raw[i] as string)) {
      const c = raw[i] as string;
      if (c === '#') {
        comment = true;
        break;
      }
      if (c === "'" || c === '"') {
        const close = closingQuote(raw, i);
        if (close < 0) return { problem: `this ${c} is never closed; close it on the same line`, col: i + 1 };
        const inner = raw.slice(i + 1, close);
        text += c === '"' ? inner.replace(/\\(["\\$`])/g, '$1') : inner;
        i = close + 1;
        continue;
      }
      if (c === '\\' && i + 1 < raw.length) {
        text += raw[i + 1];
        i += 2;
        continue;
      }
      if (c === '=' && equals === undefined) equals = i + 1;
      text += c;
      i++;
    }
    words.push({ text, col, ...(equals !== undefined && { equals }) });
    if (comment) break;
  }
  return words;
}

function closingQuote(raw: string, open: number): number {
  const quote = raw[open];
  for (let i = open + 1; i < raw.length; i++) {
    if (quote === '"' && raw[i] === '\\') i++;
    else if (raw[i] === quote) return i;
  }
  return -1;
}
