import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlaybookError } from '../../src/errors.js';
import { queryMemcached } from '../../src/facts/memcached-port.js';
import { memcachedTransport } from '../../src/facts/memcached-transport.js';
import { MetaClient } from '../../src/memcached/meta-client.js';
import { MemcachedTlsError, tlsPeerOf } from '../../src/memcached/tls-stream.js';
import { loadPlaybookForRun } from '../../src/playbook/index.js';
import type { HostConfig, MemcachedTlsSettings } from '../../src/playbook/types.js';
import { measureTls, tlsGate } from '../../src/tasks/gates/tls-gate.js';
import { createLocalTransport } from '../../src/transport/local.js';
import { type LocalMemcached, startMemcached } from '../lab/items/memcached-server.js';
import { type LabCertificates, labCertificates } from '../lab/tls-certs.js';
import { fixturePlaybook } from '../support/task-context.js';

// memcached.tls against real memcached (/usr/bin/memcached is built with TLS on
// Debian): every stream memplay opens through the host's transport is a TLS
// connection checked against the playbook's CA; a plain port, a stranger's
// certificate and a refused client certificate are errors, never "nothing serves".

const scratch = mkdtempSync(join(tmpdir(), 'memplay-tls-'));
let certs: LabCertificates;
let tls: LocalMemcached;
let mutual: LocalMemcached;
let otherChain: LocalMemcached;
let plain: LocalMemcached;

const tlsArgs = (cert: string, key: string, verifyMode: number, ca: string) => [
  '-Z',
  '-o',
  `ssl_chain_cert=${cert},ssl_key=${key},ssl_ca_cert=${ca},ssl_verify_mode=${verifyMode}`,
];

beforeAll(async () => {
  certs = await labCertificates(join(scratch, 'certs'));
  [tls, mutual, otherChain, plain] = await Promise.all([
    startMemcached({ extraArgs: tlsArgs(certs.serverCert, certs.serverKey, 0, certs.ca) }),
    startMemcached({ extraArgs: tlsArgs(certs.serverCert, certs.serverKey, 2, certs.ca) }),
    startMemcached({ extraArgs: tlsArgs(certs.otherServerCert, certs.otherServerKey, 0, certs.ca) }),
    startMemcached(),
  ]);
}, 60_000);

afterAll(async () => {
  await Promise.all([tls?.stop(), mutual?.stop(), otherChain?.stop(), plain?.stop()]);
  rmSync(scratch, { recursive: true, force: true });
});

function hostOn(port: number, settings: Partial<MemcachedTlsSettings> = {}): HostConfig {
  const base = fixturePlaybook().hosts[0]!;
  return {
    ...base,
    connection: 'local',
    memcached: {
      ...base.memcached,
      port,
      args: ['-l', '127.0.0.1'],
      tls: { caFile: certs.ca, serverName: '127.0.0.1', ...settings },
    },
  };
}

function transportFor(host: HostConfig) {
  return memcachedTransport(createLocalTransport(host.name), host);
}

const version = (host: HostConfig) =>
  queryMemcached(transportFor(host), host.memcached.port, (c) => c.version());

describe('memcached.tls through the host transport', () => {
  it('a TLS memcached answers over TLS, its chain checked against ca_file', async () => {
    const host = hostOn(tls.port);
    expect(await version(host)).toMatch(/^1\.6\./);
    const stream = await transportFor(host).openTcp(tls.port);
    const peer = tlsPeerOf(stream);
    stream.destroy();
    expect(peer?.subject).toBe('memplay lab server');
    expect(peer?.chain).toHaveLength(2);
  });

  it('the server name is checked: a name the certificate does not carry is refused', async () => {
    await expect(version(hostOn(tls.port, { serverName: 'cache.example.com' }))).rejects.toThrow(
      /port \d+: the server's certificate does not check out: .*cache\.example\.com.*check memcached\.tls/,
    );
    expect(await version(hostOn(tls.port, { serverName: 'localhost' }))).toMatch(/^1\.6\./);
  });

  it('a certificate from another CA is an error naming memcached.tls, not "nothing serves"', async () => {
    await expect(version(hostOn(tls.port, { caFile: certs.strangerCa }))).rejects.toBeInstanceOf(
      MemcachedTlsError,
    );
  });

  it('a plain memcached on a TLS host is an error saying it serves plain TCP and to start it with -Z', async () => {
    await expect(version(hostOn(plain.port))).rejects.toThrow(
      /port \d+ serves plain TCP, not TLS \(it answers VERSION 1\.6\.\d+ without TLS\) — memcached\.tls is set: start memcached with -Z/,
    );
  });

  it('nothing listening is still "nothing serves" (null), so a stopped instance reads as stopped', async () => {
    const stopped = await startMemcached({
      extraArgs: tlsArgs(certs.serverCert, certs.serverKey, 0, certs.ca),
    });
    await stopped.stop();
    expect(await version(hostOn(stopped.port))).toBeNull();
  });

  it('ssl_verify_mode 2: refused without a client certificate, served with cert_file and key_file', async () => {
    await expect(version(hostOn(mutual.port))).rejects.toThrow(
      /memcached refused the TLS connection \(tlsv13 alert certificate required\) — check memcached\.tls/,
    );
    expect(
      await version(hostOn(mutual.port, { certFile: certs.clientCert, keyFile: certs.clientKey })),
    ).toMatch(/^1\.6\./);
  });
});

describe('pipelined over TLS', () => {
  it("a pipelined store of values large and small finishes: memcached's TLS stall is woken, every item stored", async () => {
    // Without the nudge (tls-nudge.ts) this hung on its first full window: memcached
    // holds decrypted requests it never reads while both sides wait.
    const host = hostOn(tls.port);
    const transport = transportFor(host);
    const client = await MetaClient.connect(() => transport.openTcp(tls.port), { connections: 2 });
    try {
      const items = Array.from({ length: 4000 }, (_, i) => ({
        key: Buffer.from(`tls-pipeline:${i}`),
        value: Buffer.alloc(i % 50 === 0 ? 40_000 + i : 200 + (i % 1500), i % 251),
        flags: i,
        exptime: 0,
      }));
      const started = Date.now();
      const counts = await client.storeItems(items, { mode: 'set' }, await client.serverClock());
      expect(counts.stored).toBe(4000);
      expect(Date.now() - started).toBeLessThan(20_000);
      const back = new Map<string, Buffer>();
      await client.fetchItems(
        items.map((item) => ({ key: item.key })),
        (item) => {
          back.set(item.key.toString(), Buffer.from(item.value));
        },
      );
      expect(back.size).toBe(4000);
      for (const item of items)
        expect(back.get(item.key.toString())?.equals(item.value), item.key.toString()).toBe(true);
    } finally {
      client.close();
    }
  }, 60_000);
});

describe('the tls gate on real instances', () => {
  const record = async (server: LocalMemcached, settings: Partial<MemcachedTlsSettings> = {}) => {
    const host = hostOn(server.port, settings);
    const transport = transportFor(host);
    const stats = await queryMemcached(transport, server.port, async (c) =>
      Object.fromEntries(await c.statsSettings()),
    );
    return measureTls(() => transport.openTcp(server.port), stats);
  };

  it('the same certificate and settings pass; another chain or verify mode fails, naming what changed', async () => {
    const before = await record(tls);
    expect(before.minVersion).toBe('tlsv1.2');
    expect(before.verifyMode).toBe('0');
    expect(tlsGate(before, await record(tls)).status).toBe('passed');

    const otherCert = tlsGate(before, await record(otherChain));
    expect(otherCert.status).toBe('failed');
    expect(otherCert.detail).toMatch(/^changed for TLS clients: chain /);

    const client = { certFile: certs.clientCert, keyFile: certs.clientKey };
    const verifyChanged = tlsGate(before, await record(mutual, client));
    expect(verifyChanged.status).toBe('failed');
    expect(verifyChanged.detail).toBe('changed for TLS clients: verify_mode 0 → 3');
  });

  it('a successor serving plain TCP fails the gate as not served', async () => {
    const before = await record(tls);
    // As swap's start meets it: the stats cannot be read over TLS either.
    const after = await measureTls(() => transportFor(hostOn(plain.port)).openTcp(plain.port), null);
    expect(after.chain).toBeNull();
    const gate = tlsGate(before, after);
    expect(gate.status).toBe('failed');
    expect(gate.detail).toContain('served yes → no (');
  });
});

describe('memcached.tls files, read before any host is contacted', () => {
  const playbookWith = (tls: string) => {
    const file = join(scratch, `playbook-${Math.random().toString(36).slice(2)}.yml`);
    writeFileSync(
      file,
      `name: tls files
target:
  version: "1.6.38"
  source:
    path: memcached-1.6.38.tar.gz
    sha256: 074076ab3e889e16e763c6a3e5cadacc6696979dbb8c473bbf871d498b19b1a0
hosts:
  host1:
    address: 127.0.0.1
    connection: local
defaults:
  memcached:
    tls: ${tls}
`,
    );
    return file;
  };
  const problems = async (tls: string) => {
    const refused = await loadPlaybookForRun(playbookWith(tls), undefined).then(
      () => undefined,
      (error: unknown) => error,
    );
    if (refused === undefined) return [];
    expect(refused).toBeInstanceOf(PlaybookError);
    return (refused as PlaybookError).diagnostics.map((d) => `${d.line}:${d.col}: ${d.message}`);
  };

  it('the lab certificates pass', async () => {
    expect(
      await problems(
        `{ ca_file: ${certs.ca}, cert_file: ${certs.clientCert}, key_file: ${certs.clientKey} }`,
      ),
    ).toEqual([]);
  });

  it('a missing CA file, and a file that holds no certificate, are named at their line', async () => {
    expect(await problems(`{ ca_file: ${join(scratch, 'nope.pem')} }`)).toEqual([
      `13:21: defaults.memcached.tls.ca_file: cannot read ${join(scratch, 'nope.pem')} (no such file) (memcached TLS of host1)`,
    ]);
    const notPem = join(scratch, 'not.pem');
    writeFileSync(notPem, 'hello\n');
    expect(await problems(`{ ca_file: ${notPem} }`)).toEqual([
      `13:21: defaults.memcached.tls.ca_file: ${notPem} holds no PEM certificate (memcached TLS of host1)`,
    ]);
  });

  it("a key that is not the certificate's, or is encrypted, is refused without quoting the key's path", async () => {
    const mismatch = await problems(
      `{ ca_file: ${certs.ca}, cert_file: ${certs.clientCert}, key_file: ${certs.serverKey} }`,
    );
    expect(mismatch).toEqual([
      expect.stringMatching(
        /^13:\d+: defaults\.memcached\.tls\.key_file: the key is not the key of cert_file /,
      ),
    ]);
    expect(mismatch.join()).not.toContain(certs.serverKey);
    const encrypted = join(scratch, 'encrypted.key');
    const { privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    writeFileSync(encrypted, privateKey);
    const refused = await problems(
      `{ ca_file: ${certs.ca}, cert_file: ${certs.clientCert}, key_file: ${encrypted} }`,
    );
    expect(refused).toEqual([
      expect.stringContaining('key_file: the key is encrypted; memplay needs an unencrypted PEM key'),
    ]);
    expect(refused.join()).not.toContain(encrypted);
  });
});
