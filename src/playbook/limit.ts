// `--limit PATTERN`: which of a resolved playbook's hosts a run selects.
import { UsageError } from '../errors.js';
import { isGlob, parseGlob } from './host-glob.js';
import { type HostConfig, hostOf, type Playbook } from './types.js';

/** Room for every name of a 10,000-host fleet, listed one by one. */
export const MAX_LIMIT_LENGTH = 256 * 1024;
/** Each glob is tried against every host and group name; names are looked up instead. */
export const MAX_LIMIT_GLOBS = 64;
/** How much of a pattern a message repeats, and how many names it lists. */
const SHOWN_CHARACTERS = 80;
const SHOWN_NAMES = 20;

/**
 * The hosts `--limit` selects, in playbook order. PATTERN is a list separated by `,` or
 * `:` of host names, group names and shell-style globs (`cache*`, `web?`); `!` before
 * one excludes what it matches. `all` (unless a host or group has that name) is every host.
 * A host that runs several instances is selected whole by its name, one instance by the
 * instance's name (`cache1:11212`: the `:` is then part of the name, not a separator).
 */
export function selectHosts(playbook: Playbook, limit: string | undefined): HostConfig[] {
  if (limit === undefined) return [...playbook.hosts];
  if (limit.length > MAX_LIMIT_LENGTH) {
    throw new UsageError(
      `--limit is ${limit.length} characters long; at most ${MAX_LIMIT_LENGTH} are read — select hosts with a group or a glob`,
    );
  }
  const patterns = limitPatterns(playbook, limit);
  if (patterns.length === 0) {
    throw new UsageError(`--limit "${shown(limit)}" names no host or group; ${knownNames(playbook)}`);
  }
  const globs = patterns.filter(isGlob).length;
  if (globs > MAX_LIMIT_GLOBS) {
    throw new UsageError(
      `--limit has ${globs} patterns with * ? or [; at most ${MAX_LIMIT_GLOBS} — name the hosts, or put them in a group`,
    );
  }
  const names = namesOf(playbook);
  const included = new Set<string>();
  const excluded = new Set<string>();
  let includesAny = false;
  for (const [index, pattern] of patterns.entries()) {
    const negated = pattern.startsWith('!');
    const name = negated ? pattern.slice(1) : pattern;
    const matched = hostsMatching(names, name);
    if (matched.size === 0) {
      const port = noSuchInstance(playbook, patterns[index - 1], name);
      if (port) throw new UsageError(port);
      throw new UsageError(`--limit "${shown(name)}" matches no host or group; ${knownNames(playbook)}`);
    }
    if (!negated) includesAny = true;
    for (const host of matched) (negated ? excluded : included).add(host);
  }
  const selected = playbook.hosts.filter(
    (host) => (!includesAny || included.has(host.name)) && !excluded.has(host.name),
  );
  if (selected.length === 0) {
    throw new UsageError(
      `--limit "${shown(limit)}" leaves no host selected once its ! exclusions are applied; ${knownNames(playbook)}`,
    );
  }
  return selected;
}

/** A name, looked up; a glob, matched (a malformed one is a usage error naming why). */
function matcher(pattern: string): (name: string) => boolean {
  if (!isGlob(pattern)) return (name) => name === pattern;
  const glob = parseGlob(pattern);
  if ('problem' in glob) throw new UsageError(`--limit "${shown(pattern)}" ${glob.problem}`);
  return glob.match;
}

/**
 * The patterns of a `--limit` list. `,` always separates; `:` does too (as in Ansible),
 * except between two parts that together match an instance's name, as `cache1:11212`.
 */
function limitPatterns(playbook: Playbook, limit: string): string[] {
  const names = playbook.hosts.map((host) => host.name).filter((name) => name.includes(':'));
  const instance = (pattern: string) => {
    if (names.length === 0) return false;
    const bare = pattern.startsWith('!') ? pattern.slice(1) : pattern;
    if (bare.includes('!')) return false;
    const glob = isGlob(bare) ? parseGlob(bare) : undefined;
    if (glob && 'problem' in glob) return false;
    return names.some(glob ? glob.match : (name) => name === bare);
  };
  const patterns: string[] = [];
  for (const piece of limit.split(',')) {
    const parts = piece.split(':').map((part) => part.trim());
    for (let i = 0; i < parts.length; i++) {
      const joined = `${parts[i]}:${parts[i + 1]}`;
      if (i + 1 < parts.length && instance(joined)) {
        patterns.push(joined);
        i++;
      } else if (parts[i] !== '') patterns.push(parts[i] as string);
    }
  }
  return patterns;
}

/** `cache1:11299` where cache1 runs instances but none on that port: said so, with the ones it runs. */
function noSuchInstance(playbook: Playbook, host: string | undefined, port: string): string | undefined {
  if (host === undefined || !/^[0-9]+$/.test(port)) return undefined;
  const instances = playbook.hosts
    .filter((target) => target.instanceOf === host)
    .map((target) => target.name);
  if (instances.length === 0) return undefined;
  return `--limit "${shown(host)}:${shown(port)}": ${host} runs no instance on port ${port}; its instances: ${namesList(instances)}`;
}

interface Names {
  readonly targets: readonly string[];
  readonly targetSet: ReadonlySet<string>;
  /** Each playbook host and the run targets it stands for: itself, or each of its instances. */
  readonly targetsOf: ReadonlyMap<string, readonly string[]>;
  readonly groups: Readonly<Record<string, readonly string[]>>;
}

function namesOf(playbook: Playbook): Names {
  const targets = playbook.hosts.map((host) => host.name);
  const targetsOf = new Map<string, string[]>();
  for (const target of playbook.hosts) {
    const list = targetsOf.get(hostOf(target)) ?? [];
    list.push(target.name);
    targetsOf.set(hostOf(target), list);
  }
  return { targets, targetSet: new Set(targets), targetsOf, groups: playbook.groups };
}

function hostsMatching(names: Names, pattern: string): Set<string> {
  const groupNames = Object.keys(names.groups);
  if (pattern === 'all' && !names.targetSet.has('all') && !groupNames.includes('all'))
    return new Set(names.targets);
  const found = new Set<string>();
  // A host's name (or a group listing it) stands for every instance it runs.
  const addHost = (host: string) => {
    for (const target of names.targetsOf.get(host) ?? [host]) found.add(target);
  };
  // A plain name is looked up: 10,000 names against 10,000 hosts stays linear.
  if (!isGlob(pattern)) {
    if (Object.hasOwn(names.groups, pattern))
      for (const member of names.groups[pattern] ?? []) addHost(member);
    if (names.targetSet.has(pattern)) found.add(pattern);
    if (names.targetsOf.has(pattern)) addHost(pattern);
    return found;
  }
  const matches = matcher(pattern);
  for (const target of names.targets) if (matches(target)) found.add(target);
  for (const host of names.targetsOf.keys()) if (matches(host)) addHost(host);
  for (const group of groupNames.filter(matches)) {
    for (const member of names.groups[group] ?? []) addHost(member);
  }
  return found;
}

/** A pattern as a message repeats it: a 200 KB one is cut, not echoed. */
function shown(text: string): string {
  return text.length <= SHOWN_CHARACTERS
    ? text
    : `${text.slice(0, SHOWN_CHARACTERS)}… (${text.length} characters)`;
}

function namesList(names: readonly string[]): string {
  if (names.length === 0) return 'none';
  const more = names.length - SHOWN_NAMES;
  return more > 0 ? `${names.slice(0, SHOWN_NAMES).join(', ')} and ${more} more` : names.join(', ');
}

function knownNames(playbook: Playbook): string {
  return `known hosts: ${namesList(playbook.hosts.map((host) => host.name))}; groups: ${namesList(
    Object.keys(playbook.groups),
  )}`;
}
