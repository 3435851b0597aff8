// `--limit PATTERN`: which of a resolved playbook's hosts a run selects.
import { UsageError } from '../errors.js';
import { isGlob, parseGlob } from './host-glob.js';
import type { HostConfig, Playbook } from './types.js';

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
 */
export function selectHosts(playbook: Playbook, limit: string | undefined): HostConfig[] {
  if (limit === undefined) return [...playbook.hosts];
  if (limit.length > MAX_LIMIT_LENGTH) {
    throw new UsageError(
      `--limit is ${limit.length} characters long; at most ${MAX_LIMIT_LENGTH} are read — select hosts with a group or a glob`,
    );
  }
  const patterns = limit
    .split(/[,:]/)
    .map((pattern) => pattern.trim())
    .filter((pattern) => pattern !== '');
  if (patterns.length === 0) {
    throw new UsageError(`--limit "${limit}" names no host or group; ${knownNames(playbook)}`);
  }
  const globs = patterns.filter(isGlob).length;
  if (globs > MAX_LIMIT_GLOBS) {
    throw new UsageError(
      `--limit has ${globs} patterns with * ? or [; at most ${MAX_LIMIT_GLOBS} — name the hosts, or put them in a group`,
    );
  }
  const hostNames = playbook.hosts.map((host) => host.name);
  const names: Names = { hosts: hostNames, hostSet: new Set(hostNames), groups: playbook.groups };
  const included = new Set<string>();
  const excluded = new Set<string>();
  let includesAny = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    const name = negated ? pattern.slice(1) : pattern;
    const matched = hostsMatching(names, name);
    if (matched.size === 0) {
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

interface Names {
  readonly hosts: readonly string[];
  readonly hostSet: ReadonlySet<string>;
  readonly groups: Readonly<Record<string, readonly string[]>>;
}

function hostsMatching(names: Names, pattern: string): Set<string> {
  const groupNames = Object.keys(names.groups);
  if (pattern === 'all' && !names.hostSet.has('all') && !groupNames.includes('all'))
    return new Set(names.hosts);
  // A plain name is looked up: 10,000 names against 10,000 hosts stays linear.
  if (!isGlob(pattern)) {
    const found = new Set<string>(Object.hasOwn(names.groups, pattern) ? names.groups[pattern] : []);
    if (names.hostSet.has(pattern)) found.add(pattern);
    return found;
  }
  const glob = parseGlob(pattern);
  if ('problem' in glob) throw new UsageError(`--limit "${shown(pattern)}" ${glob.problem}`);
  const found = new Set(names.hosts.filter(glob.match));
  for (const group of groupNames.filter(glob.match)) {
    for (const member of names.groups[group] ?? []) found.add(member);
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
