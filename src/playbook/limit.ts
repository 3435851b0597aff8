// `--limit PATTERN`: which of a resolved playbook's hosts a run selects.
import { UsageError } from '../errors.js';
import { type HostConfig, hostOf, type Playbook } from './types.js';

/**
 * The hosts `--limit` selects, in playbook order. PATTERN is a list separated by `,` or
 * `:` of host names, group names and shell-style globs (`cache*`, `web?`); `!` before
 * one excludes what it matches. `all` (unless a host or group has that name) is every host.
 * A host that runs several instances is selected whole by its name, one instance by the
 * instance's name (`cache1:11212`: the `:` is then part of the name, not a separator).
 */
export function selectHosts(playbook: Playbook, limit: string | undefined): HostConfig[] {
  if (limit === undefined) return [...playbook.hosts];
  const patterns = limitPatterns(playbook, limit);
  if (patterns.length === 0) {
    throw new UsageError(`--limit "${limit}" names no host or group; ${knownNames(playbook)}`);
  }
  const included = new Set<string>();
  const excluded = new Set<string>();
  let includesAny = false;
  for (const [index, pattern] of patterns.entries()) {
    const negated = pattern.startsWith('!');
    const name = negated ? pattern.slice(1) : pattern;
    const matched = hostsMatching(playbook, name);
    if (matched.size === 0) {
      const port = noSuchInstance(playbook, patterns[index - 1], name);
      if (port) throw new UsageError(port);
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

/**
 * The patterns of a `--limit` list. `,` always separates; `:` does too (as in Ansible),
 * except between two parts that together match an instance's name, as `cache1:11212`.
 */
function limitPatterns(playbook: Playbook, limit: string): string[] {
  const names = playbook.hosts.map((host) => host.name).filter((name) => name.includes(':'));
  const instance = (pattern: string) => {
    const bare = pattern.startsWith('!') ? pattern.slice(1) : pattern;
    return !bare.includes('!') && names.some(globMatcher(bare));
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
  return `--limit "${host}:${port}": ${host} runs no instance on port ${port}; its instances: ${instances.join(', ')}`;
}

function hostsMatching(playbook: Playbook, pattern: string): Set<string> {
  const hostNames = playbook.hosts.map((host) => host.name);
  const groupNames = Object.keys(playbook.groups);
  if (pattern === 'all' && !hostNames.includes('all') && !groupNames.includes('all'))
    return new Set(hostNames);
  const matches = globMatcher(pattern);
  // A host's name (or a group listing it) stands for every instance it runs.
  const targetsOf = (host: string) =>
    playbook.hosts.filter((target) => hostOf(target) === host).map((target) => target.name);
  const found = new Set(hostNames.filter(matches));
  for (const host of new Set(playbook.hosts.map(hostOf))) {
    if (matches(host)) for (const target of targetsOf(host)) found.add(target);
  }
  for (const group of groupNames.filter(matches)) {
    for (const member of playbook.groups[group] ?? []) {
      const targets = targetsOf(member);
      for (const target of targets.length > 0 ? targets : [member]) found.add(target);
    }
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
