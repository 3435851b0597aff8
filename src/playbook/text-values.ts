import type { Diagnostic } from '../errors.js';
import { displayPath, type Path, type PlaybookSource } from './source.js';
import { describeValue } from './words.js';

// Every text value ends up in a shell command, a file name, a log line or a
// message. Quoting keeps a value one literal argument, but a newline or NUL is
// never what anyone meant: a NUL cannot even be passed to a program (the value
// would be cut there), a newline forges lines in plain output and known_hosts,
// and a value longer than the kernel takes for one argument (128 KiB) fails at
// the worst moment. Such values are refused up front, with their position.

export const MAX_TEXT_LENGTH = 4096;

/** The first C0 control, DEL or C1 control in `value`, or -1. */
function controlCharacterIndex(value: string): number {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code <= 0x1f || (code >= 0x7f && code <= 0x9f)) return i;
  }
  return -1;
}

function characterName(c: string): string {
  const names: Record<string, string> = {
    '\u0000': 'NUL',
    '\n': 'a newline',
    '\r': 'a carriage return',
    '\t': 'a tab',
  };
  return names[c] ?? `U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Problems of text values the schema has not already reported at the same place. */
export function textValueProblems(
  source: PlaybookSource,
  data: unknown,
  alreadyReported: readonly Diagnostic[],
): Diagnostic[] {
  const taken = new Set(alreadyReported.map((d) => `${d.line}:${d.col}`));
  const found: Diagnostic[] = [];
  const visit = (value: unknown, path: Path) => {
    if (typeof value === 'string') {
      const message = textProblem(value);
      if (!message) return;
      const diagnostic = source.diagnostic(path, `${displayPath(path)}: ${message}`);
      if (!taken.has(`${diagnostic.line}:${diagnostic.col}`)) found.push(diagnostic);
    } else if (Array.isArray(value)) {
      for (const [index, item] of value.entries()) visit(item, [...path, index]);
    } else if (typeof value === 'object' && value !== null) {
      for (const [key, child] of Object.entries(value)) visit(child, [...path, key]);
    }
  };
  visit(data, []);
  return found;
}

/** What makes `value` unfit for any text field (too long, a control character); undefined when it is fine. */
export function textProblem(value: string): string | undefined {
  if (value.length > MAX_TEXT_LENGTH) {
    return `is ${value.length} characters long; a value may have at most ${MAX_TEXT_LENGTH} — shorten it`;
  }
  const control = controlCharacterIndex(value);
  if (control >= 0) {
    return (
      `contains ${characterName(value.charAt(control))} at character ${control + 1} (${describeValue(value)}); ` +
      'a value must be one line of printable text — remove it'
    );
  }
  return undefined;
}
