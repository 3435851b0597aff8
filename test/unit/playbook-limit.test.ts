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

  it('[!] and [] are malformed (usage errors), not "every character"; a set with a leading ] keeps it', () => {
    expect(usageError('web[!]')).toBe(
      '--limit "web[!]" has an empty set of characters "[!]"; write the characters to exclude inside, like [!0-9]',
    );
    expect(usageError('web[]')).toBe(
      '--limit "web[]" has an empty set of characters "[]"; write the characters to match inside, like [ab]',
    );
    expect(usageError('web[12')).toBe(
      '--limit "web[12" opens a set of characters with "[" that is never closed with "]"; write it like [ab] or [!0-9]',
    );
    expect(usageError('web[2-1]')).toBe(
      '--limit "web[2-1]" has the range 2-1, which runs backwards; write it as 1-2',
    );
    expect(names('web[0-1]')).toEqual(['web1']);
    expect(names('web[!1]')).toEqual(['web2']);
    expect(names('db[]1]')).toEqual(['db1']);
  });

  it('a pattern that made the regex backtrack for minutes is answered at once', () => {
    const long = resolveText(
      `${head}hosts:\n  ${'a'.repeat(87)}c: { address: 10.0.0.1 }\n  ${'a'.repeat(30)}b: { address: 10.0.0.2 }\n`,
    );
    const started = performance.now();
    expect(selectHosts(long, `${'*a'.repeat(24)}*b`).map((host) => host.name)).toEqual([
      `${'a'.repeat(30)}b`,
    ]);
    expect(() => selectHosts(long, `${'*a'.repeat(25)}*c`)).not.toThrow();
    expect(performance.now() - started).toBeLessThan(200);
  });

  it('100,000 stars are a usage error of one short line, not an internal error with the pattern in it', () => {
    const message = usageError('*'.repeat(100_000));
    expect(message).toBe(
      '--limit "' +
        '*'.repeat(80) +
        '… (100000 characters)" is 100000 characters long; a host name or pattern has at most 256',
    );
    expect(usageError('x'.repeat(300_000))).toBe(
      '--limit is 300000 characters long; at most 262144 are read — select hosts with a group or a glob',
    );
    expect(usageError(Array.from({ length: 65 }, (_, i) => `web${i}*`).join(','))).toBe(
      '--limit has 65 patterns with * ? or [; at most 64 — name the hosts, or put them in a group',
    );
  });

  it('a fleet of 10,000 hosts is selected by 10,000 names quickly, and a miss lists 20 names, not 10,000', () => {
    // Only names matter to --limit: the YAML of 10,000 hosts would only slow the test.
    const template = playbook.hosts[0] as (typeof playbook.hosts)[number];
    const fleet = {
      ...playbook,
      groups: {},
      hosts: Array.from({ length: 10_000 }, (_, i) => ({ ...template, name: `h${i}` })),
    };
    const started = performance.now();
    const all = Array.from({ length: 10_000 }, (_, i) => `h${i}`).join(',');
    expect(selectHosts(fleet, all)).toHaveLength(10_000);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(() => selectHosts(fleet, 'nope')).toThrow(
      /^--limit "nope" matches no host or group; known hosts: h0, h1, .*, h19 and 9980 more; groups: none$/,
    );
  });
});
