// The memcached options that shape item memory, read from a command line.
// A warm restart (`-e <file>`) resumes only when the new process lays out
// memory exactly as the old one did; memcached checks this itself but, on a
// mismatch, silently starts empty. Comparing the two command lines lets
// `swap.mode: auto` choose the cold path before anything is stopped.

/** The settings a warm restart depends on, by a name the user recognises. */
export type MemorySettingName =
  | '-e'
  | '-m'
  | '-I'
  | '-n'
  | '-f'
  | '-C'
  | '-L'
  | 'slab_chunk_max'
  | 'slab_sizes';

export type MemorySettings = Partial<Record<MemorySettingName, string>>;

const withValue: Readonly<Record<string, MemorySettingName>> = {
  '-e': '-e',
  '--memory-file': '-e',
  '-m': '-m',
  '--memory-limit': '-m',
  '-I': '-I',
  '--max-item-size': '-I',
  '-n': '-n',
  '--slab-min-size': '-n',
  '-f': '-f',
  '--slab-growth-factor': '-f',
};

const flags: Readonly<Record<string, MemorySettingName>> = {
  '-C': '-C',
  '--disable-cas': '-C',
  '-L': '-L',
  '--enable-largepages': '-L',
};

const extended = new Set<string>(['slab_chunk_max', 'slab_sizes']);

function extendedOptions(value: string, into: MemorySettings): void {
  for (const part of value.split(',')) {
    const [name = '', ...rest] = part.split('=');
    if (extended.has(name)) into[name as MemorySettingName] = rest.join('=');
  }
}

/**
 * The memory settings an argument list sets (absent: memcached's default).
 * Values are kept as written: `-m 256` and `-m 256m` count as different, which
 * errs towards the cold path.
 */
export function memorySettings(argv: readonly string[]): MemorySettings {
  const settings: MemorySettings = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [name = '', inline] = arg.startsWith('--') ? splitLong(arg) : [arg.slice(0, 2), arg.slice(2)];
    const valued = withValue[name];
    if (valued) {
      const value = inline || argv[++i];
      if (value !== undefined) settings[valued] = value;
      continue;
    }
    if (flags[arg]) {
      settings[flags[arg] as MemorySettingName] = 'set';
      continue;
    }
    if (name === '-o' || name === '--extended') {
      const value = inline || argv[++i];
      if (value !== undefined) extendedOptions(value, settings);
    }
  }
  return settings;
}

function splitLong(arg: string): [string, string] {
  const at = arg.indexOf('=');
  return at < 0 ? [arg, ''] : [arg.slice(0, at), arg.slice(at + 1)];
}

/** Each memory setting the two command lines set differently, e.g. `-m 64 → 128`. */
export function memorySettingDifferences(before: MemorySettings, after: MemorySettings): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)] as MemorySettingName[]);
  const differences: string[] = [];
  for (const name of names) {
    if (before[name] === after[name]) continue;
    differences.push(`${name} ${before[name] ?? '(default)'} → ${after[name] ?? '(default)'}`);
  }
  return differences.sort();
}
