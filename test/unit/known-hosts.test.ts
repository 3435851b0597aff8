import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkHostKey,
  fingerprintSha256,
  type KnownHostEntry,
  keyTypeOf,
  loadKnownHosts,
  parseKnownHosts,
} from '../../src/transport/known-hosts.js';
import { alpha, beta, delta, gamma, knownHostsFixtures, type PublicKey } from '../support/host-keys.js';

const scratch = mkdtempSync(join(tmpdir(), 'memplay-known-hosts-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function check(entries: readonly KnownHostEntry[], host: string, port: number, key: PublicKey) {
  return checkHostKey(entries, host, port, key.type, key.blob).status;
}

describe('known_hosts parsing', () => {
  it('skips comments, blank lines, unknown markers and corrupt keys', () => {
    const entries = parseKnownHosts(
      [
        '# a comment',
        '',
        '   ',
        `db1 ${alpha.line} comment words`,
        `@bogus db1 ${alpha.line}`,
        `db1 ssh-rsa ${alpha.line.split(' ')[1]}`,
        'db1 ssh-ed25519',
      ].join('\n'),
    );
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ line: 4, keyType: 'ssh-ed25519' });
  });

  it('reads the key type out of a key blob', () => {
    expect(keyTypeOf(alpha.blob)).toBe('ssh-ed25519');
    expect(keyTypeOf(gamma.blob)).toBe('ssh-rsa');
    expect(keyTypeOf(delta.blob)).toBe('ecdsa-sha2-nistp256');
    expect(keyTypeOf(Buffer.alloc(2))).toBe('');
  });
});

describe('checkHostKey', () => {
  it('matches a plain host name on port 22, case-insensitively', () => {
    const entries = parseKnownHosts(`db1.example.com ${alpha.line}`);
    expect(check(entries, 'db1.example.com', 22, alpha)).toBe('match');
    expect(check(entries, 'DB1.Example.com', 22, alpha)).toBe('match');
    expect(check(entries, 'db2.example.com', 22, alpha)).toBe('unknown');
  });

  it('needs [host]:port for a non-22 port, and the plain name only for 22', () => {
    const entries = parseKnownHosts(`[127.0.0.1]:2201 ${alpha.line}\n10.0.0.5 ${beta.line}`);
    expect(check(entries, '127.0.0.1', 2201, alpha)).toBe('match');
    expect(check(entries, '127.0.0.1', 2202, alpha)).toBe('unknown');
    expect(check(entries, '127.0.0.1', 22, alpha)).toBe('unknown');
    expect(check(entries, '10.0.0.5', 22, beta)).toBe('match');
    expect(check(entries, '10.0.0.5', 2201, beta)).toBe('unknown');
  });

  it('matches any name of a comma-separated list', () => {
    const entries = parseKnownHosts(`db1,db1.example.com,[10.0.0.1]:2222 ${alpha.line}`);
    expect(check(entries, 'db1', 22, alpha)).toBe('match');
    expect(check(entries, 'db1.example.com', 22, alpha)).toBe('match');
    expect(check(entries, '10.0.0.1', 2222, alpha)).toBe('match');
    expect(check(entries, '10.0.0.1', 22, alpha)).toBe('unknown');
  });

  it('expands * and ? wildcards, including over the [host]:port form', () => {
    const entries = parseKnownHosts(`*.cache.internal,db? ${alpha.line}\n[10.1.*]:2201 ${beta.line}`);
    expect(check(entries, 'a.cache.internal', 22, alpha)).toBe('match');
    expect(check(entries, 'cache.internal', 22, alpha)).toBe('unknown');
    expect(check(entries, 'db7', 22, alpha)).toBe('match');
    expect(check(entries, 'db10', 22, alpha)).toBe('unknown');
    expect(check(entries, '10.1.2.3', 2201, beta)).toBe('match');
    expect(check(entries, '10.1.2.3', 2202, beta)).toBe('unknown');
    expect(check(entries, 'db1.example.com', 22, alpha)).toBe('unknown');
  });

  it('lets a matching negated pattern veto the whole line', () => {
    const entries = parseKnownHosts(`*.cache.internal,!evil.cache.internal ${alpha.line}`);
    expect(check(entries, 'good.cache.internal', 22, alpha)).toBe('match');
    expect(check(entries, 'evil.cache.internal', 22, alpha)).toBe('unknown');
    // A negation alone never makes a match.
    expect(check(parseKnownHosts(`!evil ${alpha.line}`), 'good', 22, alpha)).toBe('unknown');
  });

  it('matches hashed entries written by ssh-keygen -H (fixture), port included', async () => {
    const { entries, missing } = await loadKnownHosts(join(knownHostsFixtures, 'hashed'));
    expect(missing).toBe(false);
    expect(entries.map((e) => e.hosts.kind)).toEqual(['hashed', 'hashed', 'hashed']);
    expect(check(entries, 'db1.example.com', 22, alpha)).toBe('match');
    expect(check(entries, 'db2.example.com', 2201, gamma)).toBe('match');
    expect(check(entries, 'db2.example.com', 22, gamma)).toBe('unknown');
    expect(check(entries, 'cache3.example.com', 22, delta)).toBe('match');
    expect(check(entries, 'db9.example.com', 22, alpha)).toBe('unknown');
  });

  it('reports a different key of the same type as changed, with the expected fingerprint', () => {
    const entries = parseKnownHosts(`db1 ${alpha.line}`);
    expect(checkHostKey(entries, 'db1', 22, beta.type, beta.blob)).toEqual({
      status: 'changed',
      expectedFingerprints: [fingerprintSha256(alpha.blob)],
      expectedAt: ['line 1'],
    });
  });

  it('counts a key of a type the host has no entry for as unknown, not changed', () => {
    const entries = parseKnownHosts(`db1 ${alpha.line}`);
    expect(check(entries, 'db1', 22, gamma)).toBe('unknown');
    expect(check(entries, 'db1', 22, delta)).toBe('unknown');
  });

  it('accepts a key listed on any matching line, even if another line of that type differs', () => {
    const entries = parseKnownHosts(`db1 ${beta.line}\n*.x,db1 ${alpha.line}`);
    expect(check(entries, 'db1', 22, alpha)).toBe('match');
    expect(check(entries, 'db1', 22, beta)).toBe('match');
  });

  it('never accepts a @revoked key, even when it is also listed as trusted', () => {
    const entries = parseKnownHosts(`db1 ${alpha.line}\n@revoked * ${alpha.line}\n`);
    expect(check(entries, 'db1', 22, alpha)).toBe('revoked');
    expect(check(entries, 'db1', 22, beta)).toBe('changed');
    expect(check(parseKnownHosts(`@revoked db1 ${alpha.line}`), 'db2', 22, alpha)).toBe('unknown');
  });

  it('ignores @cert-authority lines: host certificates are not supported', () => {
    const entries = parseKnownHosts(`@cert-authority *.example.com ${alpha.line}`);
    expect(entries).toHaveLength(1);
    expect(check(entries, 'db1.example.com', 22, alpha)).toBe('unknown');
  });
});

describe('loadKnownHosts', () => {
  it('treats a missing file as empty and says so', async () => {
    const path = join(scratch, 'does-not-exist');
    expect(await loadKnownHosts(path)).toEqual({ path, missing: true, entries: [] });
  });

  it('parses a file read again only when its text changed, as after a key is added', async () => {
    const path = join(scratch, 'changing');
    writeFileSync(path, `10.0.0.5 ${alpha.line}\n`);
    const first = await loadKnownHosts(path);
    // The same text: the same parse, not a second one for the next connection.
    expect((await loadKnownHosts(path)).entries).toBe(first.entries);
    writeFileSync(path, `10.0.0.5 ${alpha.line}\n10.0.0.6 ${beta.line}\n`);
    const second = await loadKnownHosts(path);
    expect(second.entries).not.toBe(first.entries);
    expect(check(second.entries, '10.0.0.6', 22, beta)).toBe('match');
    expect(check(first.entries, '10.0.0.6', 22, beta)).toBe('unknown');
  });
});

// What `ssh-keygen -l -E sha256 -f <key>.pub` printed for each fixture key; the same
// comparison against the local ssh-keygen, run now, is test/integration/known-hosts.test.ts.
describe('fingerprintSha256', () => {
  it.each([
    ['ed25519', alpha, 'SHA256:IyKTZ99y24R8ut+ynEewE2Nb+HTmoMvW17mo6fKejws'],
    ['rsa', gamma, 'SHA256:/EPcAYsBcyESE5TWUiRuCiFRjCjCDEJ9sqa58K1535c'],
    ['ecdsa', delta, 'SHA256:4AlIz5JQNIZBsI9TV7JYqpfLAqLLDH8gZbLFl/WElnE'],
  ])('equals what ssh-keygen -lf prints for the %s fixture key', (_kind, key, listed) => {
    expect(fingerprintSha256(key.blob)).toBe(listed);
  });
});
