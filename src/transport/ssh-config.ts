// The operator's OpenSSH client config (~/.ssh/config), read through the `ssh-config`
// parser so a playbook can name a host by its alias. The parser leaves `Include` to its
// caller: it is expanded here as OpenSSH does (globs, relative paths from ~/.ssh), and
// every directive remembers its file and line so a message can point at it.

import { readdir, readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import SSHConfig, { type Directive, type Line, LineType, type Section } from 'ssh-config';

/** Where a value of the config came from: `file:line`. */
export type ConfigOrigin = string;

/** What the config says about one name given to ssh, before the playbook's own values win. */
export interface SshConfigHost {
  readonly hostName?: string;
  readonly user?: string;
  readonly port?: number;
  /** In the order OpenSSH would try them, `~` and tokens not yet expanded. */
  readonly identityFiles: readonly string[];
  readonly proxyJump?: string;
  readonly hostKeyAlias?: string;
  /** UserKnownHostsFile's files, in order (it takes several), `~` and tokens not yet expanded. */
  readonly userKnownHostsFiles?: readonly string[];
  /** GlobalKnownHostsFile's files, in order. */
  readonly globalKnownHostsFiles?: readonly string[];
  readonly connectTimeout?: number;
  /** `file:line` of each directive that set a value above, by lower-case name. */
  readonly origins: Readonly<Record<string, ConfigOrigin>>;
  /**
   * Values the config gives that memplay refuses (`/root/.ssh/config:4: Port 0 is not …`):
   * held to the bounds the playbook's own settings have, and left out of the values above.
   */
  readonly invalid?: readonly InvalidConfigValue[];
}

export interface InvalidConfigValue {
  /** The directive, lower-case (`port`, `connecttimeout`). */
  readonly key: string;
  readonly message: string;
}

/** The bounds of ssh.port and ssh.connect_timeout in the playbook schema, applied to the config too. */
export const portRange = { min: 1, max: 65535 } as const;
export const connectTimeoutRange = { min: 0.1, max: 3600 } as const;

/** Why `port` is not a TCP port, or undefined when it is one. */
export function portProblem(port: number): string | undefined {
  return Number.isInteger(port) && port >= portRange.min && port <= portRange.max
    ? undefined
    : `is not a port number from ${portRange.min} to ${portRange.max}`;
}

export interface SshConfigFile {
  /** The top-level file; empty and `missing` when it does not exist. */
  readonly path: string;
  readonly missing: boolean;
  lookup(name: string): SshConfigHost;
}

// OpenSSH caps nesting so a file that includes itself cannot loop.
const maxIncludeDepth = 16;

const origins = new WeakMap<Line, ConfigOrigin>();

/**
 * Reads an ssh client config and everything it includes. `~` is `homeDir`; a relative
 * Include is taken from `<homeDir>/.ssh`, as OpenSSH does for the user's config.
 * A missing top-level file is an empty config (`missing`); a missing Include matches nothing.
 */
export async function loadSshConfig(path: string, homeDir: string): Promise<SshConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return emptyConfig(path);
  }
  const config = await parseWithIncludes(text, path, homeDir, 0);
  return {
    path,
    missing: false,
    lookup: (name) => lookupHost(config, name),
  };
}

export function emptyConfig(path: string): SshConfigFile {
  return { path, missing: true, lookup: () => ({ identityFiles: [], origins: {} }) };
}

async function parseWithIncludes(
  text: string,
  file: string,
  homeDir: string,
  depth: number,
): Promise<SSHConfig> {
  const config = SSHConfig.parse(text);
  markLines(config, file);
  await expandIncludes(config, file, homeDir, depth, true);
  return config;
}

// The parser keeps every character of the file in `before`/`after`, so counting their
// newlines in file order gives each directive's line.
function markLines(config: SSHConfig, file: string): void {
  let line = 1;
  const walk = (lines: readonly Line[]) => {
    for (const node of lines) {
      line += newlines(node.before);
      origins.set(node, `${file}:${line}`);
      line += newlines(node.after);
      if (isSection(node)) walk(node.config);
    }
  };
  walk(config);
}

function newlines(text: string | undefined): number {
  return text ? text.split('\n').length - 1 : 0;
}

function isSection(line: Line): line is Section {
  return line.type === LineType.DIRECTIVE && 'config' in line;
}

async function expandIncludes(
  lines: Line[],
  file: string,
  homeDir: string,
  depth: number,
  topLevel: boolean,
): Promise<void> {
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] as Line;
    if (isSection(line)) {
      await expandIncludes(line.config, file, homeDir, depth, false);
      continue;
    }
    if (line.type !== LineType.DIRECTIVE || line.param.toLowerCase() !== 'include') continue;
    if (depth >= maxIncludeDepth) {
      throw new Error(`${origins.get(line)}: Include nested more than ${maxIncludeDepth} deep`);
    }
    const included: Line[] = [];
    for (const pattern of values(line)) {
      for (const path of await globFiles(expandHome(pattern, homeDir, join(homeDir, '.ssh')))) {
        const child = await parseWithIncludes(await readFile(path, 'utf8'), path, homeDir, depth + 1);
        included.push(...child);
      }
    }
    // Inside a Host block an included file's leading directives belong to that block. The
    // Host blocks it declares would apply only where both match, which this tree cannot
    // say: they are left out (an Include at the top level, the usual place, keeps them).
    const replacement = topLevel ? included : included.filter((l) => !isSection(l));
    lines.splice(index, 1, ...replacement);
    index += replacement.length - 1;
  }
}

function values(directive: Directive): string[] {
  return typeof directive.value === 'string' ? [directive.value] : directive.value.map((v) => v.val);
}

function expandHome(path: string, homeDir: string, relativeTo: string): string {
  if (path === '~') return homeDir;
  if (path.startsWith('~/')) return join(homeDir, path.slice(2));
  return isAbsolute(path) ? path : join(relativeTo, path);
}

// glob(3) as Include uses it: wildcards in any path component, matches sorted.
async function globFiles(pattern: string): Promise<string[]> {
  const parts = pattern.split('/').filter((p, i) => p !== '' || i === 0);
  let found = [parts[0] === '' ? '/' : (parts[0] as string)];
  for (const part of parts.slice(1)) {
    const next: string[] = [];
    for (const dir of found) {
      if (!/[*?[]/.test(part)) {
        next.push(join(dir, part));
        continue;
      }
      const matcher = wildcard(part);
      const names = await readdir(dir).catch(() => [] as string[]);
      for (const name of names.sort()) {
        if (matcher.test(name) && !(name.startsWith('.') && !part.startsWith('.')))
          next.push(join(dir, name));
      }
    }
    found = next;
  }
  const files: string[] = [];
  for (const path of found) {
    const ok = await readFile(path).then(
      () => true,
      () => false,
    );
    if (ok) files.push(path);
  }
  return files;
}

function wildcard(pattern: string): RegExp {
  const body = pattern
    .split('')
    .map((c) => (c === '*' ? '[^/]*' : c === '?' ? '[^/]' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
}

function lookupHost(config: SSHConfig, name: string): SshConfigHost {
  // matchExec off: resolving a playbook must not run commands a config names.
  const computed = config.compute(name, { ignoreCase: true, matchExec: false });
  const one = (key: string): string | undefined => {
    const value = computed[key];
    return Array.isArray(value) ? value[0] : value;
  };
  const found: Record<string, ConfigOrigin> = {};
  const note = (key: string, value: string | undefined) => {
    if (value === undefined) return;
    const origin = originOf(config, name, key, value);
    if (origin) found[key] = origin;
  };
  const hostName = one('hostname');
  const user = one('user');
  const port = one('port');
  const proxyJump = one('proxyjump');
  const hostKeyAlias = one('hostkeyalias');
  const many = (key: string): string[] | undefined => {
    const value = computed[key];
    return value === undefined ? undefined : [value].flat();
  };
  const userKnownHostsFiles = many('userknownhostsfile');
  const globalKnownHostsFiles = many('globalknownhostsfile');
  const connectTimeout = one('connecttimeout');
  const identityFiles = [computed.identityfile ?? []].flat();
  for (const [key, value] of Object.entries({
    hostname: hostName,
    user,
    port,
    proxyjump: proxyJump,
    hostkeyalias: hostKeyAlias,
    userknownhostsfile: userKnownHostsFiles?.[0],
    globalknownhostsfile: globalKnownHostsFiles?.[0],
    connecttimeout: connectTimeout,
    identityfile: identityFiles[0],
  })) {
    note(key, value);
  }
  const invalid: InvalidConfigValue[] = [];
  const refuse = (key: string, name: string, value: string, why: string) => {
    invalid.push({ key, message: `${found[key] ?? 'ssh config'}: ${name} ${value} ${why}` });
  };
  // Number('') and Number(' ') are 0, not "not a number": only digits count.
  const portNumber = port === undefined ? undefined : /^[0-9]+$/.test(port) ? Number(port) : Number.NaN;
  const portWhy = portNumber === undefined ? undefined : portProblem(portNumber);
  if (port !== undefined && portWhy !== undefined) refuse('port', 'Port', port, portWhy);
  const timeout = connectTimeout === undefined ? undefined : Number(connectTimeout);
  // A value that rounds to 0 ms would be read by ssh2 as no timeout at all.
  const timeoutOk =
    timeout !== undefined &&
    /^[0-9.eE+-]+$/.test(connectTimeout ?? '') &&
    timeout >= connectTimeoutRange.min &&
    timeout <= connectTimeoutRange.max;
  if (connectTimeout !== undefined && !timeoutOk) {
    refuse(
      'connecttimeout',
      'ConnectTimeout',
      connectTimeout,
      `is not a number of seconds from ${connectTimeoutRange.min} to ${connectTimeoutRange.max}`,
    );
  }
  return {
    ...(hostName !== undefined && { hostName }),
    ...(user !== undefined && { user }),
    ...(portNumber !== undefined && portWhy === undefined && { port: portNumber }),
    identityFiles,
    ...(proxyJump !== undefined && { proxyJump }),
    ...(hostKeyAlias !== undefined && { hostKeyAlias }),
    ...(userKnownHostsFiles !== undefined && { userKnownHostsFiles }),
    ...(globalKnownHostsFiles !== undefined && { globalKnownHostsFiles }),
    ...(timeoutOk && { connectTimeout: timeout }),
    origins: found,
    ...(invalid.length > 0 && { invalid }),
  };
}

// The first directive, in file order, that could have given `key` this value for `name`:
// the parser computes values but does not say where they came from.
function originOf(config: SSHConfig, name: string, key: string, value: string): ConfigOrigin | undefined {
  const matches = (line: Line) =>
    line.type === LineType.DIRECTIVE && line.param.toLowerCase() === key && values(line).includes(value);
  for (const line of config) {
    if (line.type !== LineType.DIRECTIVE) continue;
    if (isSection(line)) {
      const param = line.param.toLowerCase();
      if (param === 'host' && !hostMatches(values(line), name)) continue;
      const hit = line.config.find(matches);
      if (hit) return origins.get(hit);
    } else if (matches(line)) {
      return origins.get(line);
    }
  }
  return undefined;
}

// OpenSSH's Host matching: any positive pattern matches and no negated one does.
function hostMatches(patterns: readonly string[], name: string): boolean {
  let positive = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    const regex = new RegExp(
      `^${(negated ? pattern.slice(1) : pattern)
        .split('')
        .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
        .join('')}$`,
      'i',
    );
    if (regex.test(name)) {
      if (negated) return false;
      positive = true;
    }
  }
  return positive;
}
