import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadKnownHosts } from '../../src/transport/known-hosts.js';
import { knownHostsLine, recordHostKey } from '../../src/transport/known-hosts-writer.js';

const fixtures = join(import.meta.dirname, '../fixtures/known_hosts');
const scratch = mkdtempSync(join(tmpdir(), 'memplay-known-hosts-writer-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function blobOf(name: string): Buffer {
  const [, base64 = ''] = readFileSync(join(fixtures, name), 'utf8').trim().split(/\s+/);
  return Buffer.from(base64, 'base64');
}
const alpha = blobOf('alpha.ed25519.pub');
const beta = blobOf('beta.ed25519.pub');

let files = 0;
function scratchFile(text?: string): string {
  files += 1;
  const path = join(scratch, `known_hosts-${files}`);
  if (text !== undefined) writeFileSync(path, text);
  return path;
}

describe('recording a host key on first use', () => {
  it('writes the line ssh writes: [addr]:port off port 22, the plain address on 22', () => {
    const base64 = alpha.toString('base64');
    expect(knownHostsLine('127.0.0.1', 2211, alpha)).toBe(`[127.0.0.1]:2211 ssh-ed25519 ${base64}`);
    expect(knownHostsLine('Cache1.Example.com', 22, alpha)).toBe(`cache1.example.com ssh-ed25519 ${base64}`);
  });

  it('appends one line to a file without the host, after a last line lacking its newline', async () => {
    const path = scratchFile('other.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBogus');
    const recorded = await recordHostKey(path, '127.0.0.1', 2211, alpha);
    expect(recorded.status).toBe('added');
    expect(readFileSync(path, 'utf8')).toBe(
      `other.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBogus\n[127.0.0.1]:2211 ssh-ed25519 ${alpha.toString('base64')}\n`,
    );
    // The fingerprint ssh-keygen -lf prints for alpha; that ssh-keygen reads this very line
    // back the same is test/integration/known-hosts.test.ts.
    if (recorded.status === 'added')
      expect(recorded.fingerprint).toBe('SHA256:IyKTZ99y24R8ut+ynEewE2Nb+HTmoMvW17mo6fKejws');
  });

  it('creates a missing file, and writes a key only once when two connections add it at the same time', async () => {
    const path = scratchFile();
    const both = await Promise.all([
      recordHostKey(path, '127.0.0.1', 2212, alpha),
      recordHostKey(path, '127.0.0.1', 2212, alpha),
    ]);
    expect(both.map((r) => r.status).sort()).toEqual(['added', 'present']);
    expect((await loadKnownHosts(path)).entries).toHaveLength(1);
  });

  it('never adds a second key for a host the file already has a different key for', async () => {
    const before = `[127.0.0.1]:2213 ssh-ed25519 ${beta.toString('base64')}\n`;
    const path = scratchFile(before);
    const recorded = await recordHostKey(path, '127.0.0.1', 2213, alpha);
    expect(recorded.status).toBe('changed');
    expect(readFileSync(path, 'utf8')).toBe(before);
  });
});
