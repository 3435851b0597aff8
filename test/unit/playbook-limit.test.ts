import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { selectHosts } from '../../src/playbook/index.js';
import { head, resolveText } from '../support/playbook-helpers.js';

const playbook = resolveText(`${head}hosts:
  web1: { address: 10.0.0.1 }
  web2: { address: 10.0.0.2 }
  db1: { address: 10.0.0.3 }
  cache.a: { address: 10.0.0.4 }
  cachexa: { address: 10.0.0.5 }
groups:
  east: [db1, web1]
  west: [web2]
`);

const names = (limit: string | undefined) => selectHosts(playbook, limit).map((host) => host.name);

function usageError(limit: string): string {
  try {
    selectHosts(playbook, limit);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`--limit ${limit} was accepted`);
}

describe('--limit', () => {
  it('without --limit every host, in playbook order', () => {
    expect(names(undefined)).toEqual(['web1', 'web2', 'db1', 'cache.a', 'cachexa']);
  });

  it('host names, group names and mixes, always in playbook order', () => {
    expect(names('db1')).toEqual(['db1']);
    expect(names('east')).toEqual(['web1', 'db1']);
    expect(names('west,db1')).toEqual(['web2', 'db1']);
    expect(names('db1:west')).toEqual(['web2', 'db1']);
  });

  it('shell-style globs match host and group names; a dot is only a dot', () => {
    expect(names('web*')).toEqual(['web1', 'web2']);
    expect(names('web?')).toEqual(['web1', 'web2']);
    expect(names('[dw]*1')).toEqual(['web1', 'db1']);
    // [!w]* also matches the group "east", which brings in web1.
    expect(names('[!w]*')).toEqual(['web1', 'db1', 'cache.a', 'cachexa']);
    expect(names('wes*')).toEqual(['web2']);
    expect(names('cache.a')).toEqual(['cache.a']);
  });

  it('! excludes, on its own or after inclusions; all is every host', () => {
    expect(names('!web1')).toEqual(['web2', 'db1', 'cache.a', 'cachexa']);
    expect(names('east:!db1')).toEqual(['web1']);
    expect(names('all,!east,!cache*')).toEqual(['web2']);
  });

  it('a name that matches nothing is a usage error listing what exists', () => {
    expect(usageError('web3')).toBe(
      '--limit "web3" matches no host or group; known hosts: web1, web2, db1, cache.a, cachexa; groups: east, west',
    );
    expect(usageError('east,!nope')).toBe(
      '--limit "nope" matches no host or group; known hosts: web1, web2, db1, cache.a, cachexa; groups: east, west',
    );
  });

  it('a limit that selects nothing, or is empty, is a usage error', () => {
    expect(usageError('web1,!web*')).toBe(
      '--limit "web1,!web*" leaves no host selected once its ! exclusions are applied; known hosts: web1, web2, db1, cache.a, cachexa; groups: east, west',
    );
    expect(usageError(' , ')).toMatch(/^--limit " , " names no host or group; known hosts: web1/);
  });
});
