// `--limit PATTERN`: which of a resolved playbook's hosts a run selects.
import { UsageError } from '../errors.js';
import type { HostConfig, Playbook } from './types.js';

/**
 * The hosts `--limit` selects, in playbook order. PATTERN is a list separated by `,` or
 * `:` of host names, group names and shell-style globs (`cache*`, `web?`); `!` before
 * one excludes what it matches. `all` (unless a host or group has that name) is every host.
 */
export function selectHosts(playbook: Playbook, limit: string | undefined): HostConfig[] {
  if (limit === undefined) return [...playbook.hosts];
  const patterns = limit
    .split(/[,:]/)
    .map((pattern) => pattern.trim())
    .filter((pattern) => pattern !== '');
  if (patterns.length === 0) {
    throw new UsageError(`--limit "${limit}" names no host or group; ${knownNames(playbook)}`);
  }
  const included = new Set<string>();
  const excluded = new Set<string>();
  let includesAny = false;
  for (const pattern of patterns) {
    const negated = pattern.startsWith('!');
    const name = negated ? pattern.slice(1) : pattern;
    const matched = hostsMatching(playbook, name);
    if (matched.size === 0) {
      throw new UsageError(`--limit "${name}" matches no host or group; ${knownNames(playbook)}`);
    }
    if (!negated) includesAny = true;
    for (const host of matched) (negated ? excluded : included).add(host);
  }
  const selected = playbook.hosts.filter(
    (host) => (!includesAny || included.has(host.name)) && !excluded.has(host.name),
  );
  if (selected.length === 0) {
    throw new UsageError(
      `--limit "${limit}" leaves no host selected once its ! exclusions are applied; ${knownNames(playbook)}`,
    );
  }
  return selected;
}

function hostsMatching(playbook: Playbook, pattern: string): Set<string> {
  const hostNames = playbook.hosts.map((host) => host.name);
  const groupNames = Object.keys(playbook.groups);
  if (pattern === 'all' && !hostNames.includes('all') && !groupNames.includes('all'))
    return new Set(hostNames);
  const matches = globMatcher(pattern);
  const found = new Set(hostNames.filter(matches));
  for (const group of groupNames.filter(matches)) {
    for (const member of playbook.groups[group] ?? []) found.add(member);
  }
  return found;
}

function globMatcher(pattern: string): (name: string) => boolean {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '[' && pattern.indexOf(']', i + 2) > i) {
      const end = pattern.indexOf(']', i + 2);
      const set = pattern.slice(i + 1, end);
      source += `[${set.startsWith('!') ? `^${escapeClass(set.slice(1))}` : escapeClass(set)}]`;
      i = end;
    } else source += c.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&');
  }
  const regex = new RegExp(`^${source}$`);
  return (name) => regex.test(name);
}

function escapeClass(set: string): string {
  return set.replace(/[\\\]^]/g, '\\$&');
}

function knownNames(playbook: Playbook): string {
  const groups = Object.keys(playbook.groups);
  return `known hosts: ${playbook.hosts.map((host) => host.name).join(', ')}; groups: ${
    groups.length > 0 ? groups.join(', ') : 'none'
  }`;
}
