// A systemd unit as `systemctl cat` prints it: each file it is made of (the unit
// file, then its drop-ins in the order systemd applies them), each introduced by
// a `# /path` line. memplay reads what the unit says rather than assuming where
// a distribution puts things: the ExecStart the package wrote, and the files it
// reads its settings from.

export interface UnitFile {
  readonly path: string;
  /** `[Service]` keys in order, values as written (a key may repeat). */
  readonly service: readonly { readonly key: string; readonly value: string }[];
}

/** Splits `systemctl cat` output into its files. Lines before the first `# /path` belong to none. */
export function parseSystemctlCat(output: string): UnitFile[] {
  const files: { path: string; service: { key: string; value: string }[] }[] = [];
  let current: (typeof files)[number] | undefined;
  let section = '';
  for (const raw of output.split('\n')) {
    const header = /^# (\/\S.*)$/.exec(raw);
    if (header?.[1] !== undefined) {
      current = { path: header[1].trim(), service: [] };
      files.push(current);
      section = '';
      continue;
    }
    const line = raw.trim();
    if (current === undefined || line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) {
      section = line;
      continue;
    }
    const equals = line.indexOf('=');
    if (section !== '[Service]' || equals < 0) continue;
    current.service.push({ key: line.slice(0, equals).trim(), value: line.slice(equals + 1).trim() });
  }
  return files;
}

/**
 * The values of `key` once every file is applied: an empty assignment clears the
 * list (how a drop-in replaces ExecStart). `leaveOut`: files not counted (memplay's
 * own drop-in, to see what the unit runs without it).
 */
export function unitValues(
  files: readonly UnitFile[],
  key: string,
  leaveOut: readonly string[] = [],
): string[] {
  let values: string[] = [];
  for (const file of files) {
    if (leaveOut.includes(file.path)) continue;
    for (const entry of file.service) {
      if (entry.key !== key) continue;
      values = entry.value === '' ? [] : [...values, entry.value];
    }
  }
  return values;
}

/**
 * An ExecStart= line as systemd splits it (no shell): its `-@:+!` prefixes
 * dropped, double or single quotes keep spaces, `\` escapes the next character,
 * `%%` is `%` and `$$` is `$`. `$VAR`/`${VAR}` stay as written: they are the
 * unit's environment, which memplay does not evaluate.
 */
export function splitExecStart(line: string): string[] {
  const argv: string[] = [];
  let word: string | null = null;
  let quote: string | null = null;
  const text = line.replace(/^[-@:+!]+/, '');
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '\\' && i + 1 < text.length) {
      word = (word ?? '') + text[++i];
    } else if (quote !== null) {
      if (c === quote) quote = null;
      else word = (word ?? '') + c;
    } else if (c === '"' || c === "'") {
      quote = c;
      word = word ?? '';
    } else if (c === ' ' || c === '\t') {
      if (word !== null) argv.push(word);
      word = null;
    } else word = (word ?? '') + c;
  }
  if (word !== null) argv.push(word);
  return argv.map((w) => w.replaceAll('%%', '\0').replaceAll('$$', '$').replaceAll('\0', '%'));
}
