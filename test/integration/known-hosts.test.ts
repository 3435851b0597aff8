import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkHostKey, fingerprintSha256, loadKnownHosts } from '../../src/transport/known-hosts.js';
import { recordHostKey } from '../../src/transport/known-hosts-writer.js';
import { alpha, beta, delta, gamma } from '../support/host-keys.js';

// known_hosts as the local OpenSSH tools write and read it: ssh-keygen is the other side.

const scratch = mkdtempSync(join(tmpdir(), 'memplay-known-hosts-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('known_hosts and ssh-keygen', () => {
  it('matches entries hashed by the local ssh-keygen -H just now', async () => {
    const file = join(scratch, 'to-hash');
    writeFileSync(file, `[10.9.8.7]:2299 ${beta.line}\nplain.example ${alpha.line}\n`);
    execFileSync('/usr/bin/ssh-keygen', ['-H', '-f', file], { stdio: 'ignore' });
    const { entries } = await loadKnownHosts(file);
    expect(entries.every((e) => e.hosts.kind === 'hashed')).toBe(true);
    const status = (host: string, port: number, key: typeof alpha) =>
      checkHostKey(entries, host, port, key.type, key.blob).status;
    expect(status('10.9.8.7', 2299, beta)).toBe('match');
    expect(status('plain.example', 22, alpha)).toBe('match');
    expect(status('plain.example', 22, beta)).toBe('changed');
  });

  it.each([
    ['ed25519', alpha],
    ['rsa', gamma],
    ['ecdsa', delta],
  ])('fingerprintSha256 equals ssh-keygen -lf for an %s key', (_kind, key) => {
    const listed = execFileSync('/usr/bin/ssh-keygen', ['-l', '-E', 'sha256', '-f', key.file], {
      encoding: 'utf8',
    });
    expect(listed.split(' ')[1]).toBe(fingerprintSha256(key.blob));
    expect(fingerprintSha256(key.blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('a recorded line reads back in ssh-keygen as the key and fingerprint memplay reported', async () => {
    const path = join(scratch, 'recorded');
    writeFileSync(path, 'other.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBogus');
    const recorded = await recordHostKey(path, '127.0.0.1', 2211, alpha.blob);
    expect(recorded.status).toBe('added');
    const listed = execFileSync('/usr/bin/ssh-keygen', ['-l', '-F', '[127.0.0.1]:2211', '-f', path], {
      encoding: 'utf8',
    });
    if (recorded.status === 'added') expect(listed).toContain(recorded.fingerprint);
    expect(readFileSync(path, 'utf8')).toContain(`[127.0.0.1]:2211 ${alpha.line}\n`);
  });
});
