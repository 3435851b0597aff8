// Issue 17 item 9, against a real handshake: an sshd (ssh2's server, in this process)
// that signs its host key only with ssh-rsa (SHA-1) or speaks only hmac-sha1 is refused
// by default, and reached, with a warning, when ssh.legacy_algorithms names the algorithm.
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, describe, expect, it } from 'vitest';
import { connectSsh } from '../../src/transport/ssh.js';
import type { LegacyAlgorithmsOffered } from '../../src/transport/ssh-options.js';

const { Server, utils } = ssh2;
const scratch = mkdtempSync(join(tmpdir(), 'memplay-ssh-algorithms-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const rsaPem = (): string =>
  generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
    type: 'pkcs1',
    format: 'pem',
  }) as string;
const hostKey = rsaPem();
const clientKey = join(scratch, 'id_rsa');
writeFileSync(clientKey, rsaPem(), { mode: 0o600 });

/** A server offering only `algorithms`; resolves its port and a known_hosts file that lists it. */
async function oldServer(algorithms: Record<string, string[]>) {
  const server = new Server({ hostKeys: [hostKey], algorithms: algorithms as never }, (client) => {
    client.on('authentication', (context) => context.accept());
    client.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const publicKey = utils.parseKey(hostKey) as ssh2.ParsedKey;
  const knownHosts = join(scratch, `known_hosts-${port}`);
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ssh-rsa ${publicKey.getPublicSSH().toString('base64')}\n`);
  return { server, port, knownHosts };
}

async function connect(port: number, knownHosts: string, legacy?: string[]) {
  const warnings: LegacyAlgorithmsOffered[] = [];
  const attempt = connectSsh({
    hostName: 'old1',
    address: '127.0.0.1',
    port,
    user: 'ops',
    identityFile: clientKey,
    knownHostsFile: knownHosts,
    connectTimeoutMs: 5000,
    ...(legacy && { legacyAlgorithms: legacy }),
    onLegacyAlgorithms: (warning) => warnings.push(warning),
  });
  const outcome = await attempt.then(
    async (transport) => {
      await transport.close();
      return 'connected';
    },
    (error: Error) => error.message,
  );
  return { outcome, warnings };
}

describe('an old sshd and the algorithms memplay offers', () => {
  it('an ssh-rsa-only host key is refused by default, and reached with legacy_algorithms: [ssh-rsa], with a warning', async () => {
    const { server, port, knownHosts } = await oldServer({ serverHostKey: ['ssh-rsa'] });
    try {
      const strict = await connect(port, knownHosts);
      expect(strict.outcome).not.toBe('connected');
      expect(strict.warnings).toEqual([]);
      const allowed = await connect(port, knownHosts, ['ssh-rsa']);
      expect(allowed.outcome).toBe('connected');
      expect(allowed.warnings).toEqual([{ host: 'old1', offered: ['ssh-rsa'], inUse: ['ssh-rsa'] }]);
    } finally {
      server.close();
    }
  });

  it('an hmac-sha1-only host is refused by default, and reached with legacy_algorithms: [hmac-sha1]', async () => {
    const { server, port, knownHosts } = await oldServer({
      cipher: ['aes128-ctr'],
      hmac: ['hmac-sha1'],
    });
    try {
      expect((await connect(port, knownHosts)).outcome).not.toBe('connected');
      const allowed = await connect(port, knownHosts, ['hmac-sha1']);
      expect(allowed.outcome).toBe('connected');
      expect(allowed.warnings[0]?.inUse).toEqual(['hmac-sha1']);
    } finally {
      server.close();
    }
  });

  it('a modern host offered legacy algorithms settles on strong ones, and the warning says none is in use', async () => {
    const { server, port, knownHosts } = await oldServer({});
    try {
      const allowed = await connect(port, knownHosts, ['ssh-rsa', 'hmac-sha1']);
      expect(allowed.outcome).toBe('connected');
      expect(allowed.warnings).toEqual([{ host: 'old1', offered: ['ssh-rsa', 'hmac-sha1'], inUse: [] }]);
    } finally {
      server.close();
    }
  });
});
