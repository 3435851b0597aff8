// The one way to build a remote shell command. Every interpolated value is
// single-quoted for POSIX sh, so a value with a space, `;` or `$(…)` stays one
// literal argument. A nested ShellCommand is spliced in as-is (composition),
// an array becomes several quoted words.

const brand: unique symbol = Symbol('ShellCommand');

export interface ShellCommand {
  readonly [brand]: true;
  readonly text: string;
}

export type ShellValue = string | number | ShellCommand | readonly (string | number)[];

const safeWord = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one word for POSIX sh. */
export function quote(word: string | number): string {
  const text = String(word);
  if (text === '') return "''";
  if (safeWord.test(text)) return text;
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function isShellCommand(value: unknown): value is ShellCommand {
  return typeof value === 'object' && value !== null && brand in value;
}

function render(value: ShellValue): string {
  if (isShellCommand(value)) return value.text;
  if (Array.isArray(value)) return value.map((word) => quote(word)).join(' ');
  return quote(value as string | number);
}

export function sh(strings: TemplateStringsArray, ...values: ShellValue[]): ShellCommand {
  let text = strings[0] ?? '';
  values.forEach((value, index) => {
    text += render(value) + (strings[index + 1] ?? '');
  });
  return { [brand]: true, text };
}

/** Joins commands with a separator such as ` && ` or `; `. */
export function joinCommands(
  commands: readonly ShellCommand[],
  separator: ' && ' | '; ' | ' || ' | '\n',
): ShellCommand {
  return { [brand]: true, text: commands.map((c) => c.text).join(separator) };
}

/**
 * The line an ssh exec request carries for `command`. sshd hands it to the user's login
 * shell, which may not be a POSIX sh: fish reads `\'` and `\\` as escapes inside single
 * quotes, so the quoting above would reach it mangled. Every command therefore runs as
 * `exec /bin/sh -c '…'`, quoted in the one form POSIX shells, bash, zsh and fish all read
 * alike: single-quoted runs holding no `'` or `\`, with each `'` and `\` between them
 * backslash-escaped outside the quotes. `exec` keeps one process, so a signal sent to the
 * session (a timeout's KILL) reaches the command itself.
 */
export function loginShellLine(command: ShellCommand): string {
  return `exec /bin/sh -c ${portableQuote(command.text)}`;
}

/** One word for sh and fish alike: no backslash or quote ever inside single quotes. */
export function portableQuote(text: string): string {
  if (text === '') return "''";
  return text
    .split(/(['\\])/)
    .filter((part) => part !== '')
    .map((part) => (part === "'" ? "\\'" : part === '\\' ? '\\\\' : `'${part}'`))
    .join('');
}
