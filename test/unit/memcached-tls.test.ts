import { describe, expect, it } from 'vitest';
import { predictTlsGate, type TlsRecord, tlsGate, tlsRefusedGate } from '../../src/tasks/gates/tls-gate.js';
import { head, resolveText } from '../support/playbook-helpers.js';

// memcached.tls: how the playbook's keys resolve (controller paths, the name the
// server certificate must carry, the build flag), and the tls gate's comparison
// of the old instance with the new.

describe('memcached.tls in the playbook', () => {
  const playbook = resolveText(`${head}  configure: ["--disable-coverage"]
defaults:
  memcached:
    args: ["-Z", "-o", "ssl_chain_cert=/etc/memcached/server.pem,ssl_key=/etc/memcached/server.key"]
    tls:
      ca_file: certs/ca.pem
      cert_file: ~/tls/client.pem
      key_file: ~/tls/client.key
hosts:
  cache-a:
    address: cache-a.example.com
  cache-b:
    address: 10.0.0.2
    memcached:
      tls: { ca_file: /etc/memplay/ca.pem, server_name: cache-b.internal }
  cache-c:
    address: 10.0.0.3
`);
  const host = (name: string) => playbook.hosts.find((h) => h.name === name)!;

  it("paths are the controller's: relative to the playbook, ~ expanded; the server name defaults to the address", () => {
    expect(host('cache-a').memcached.tls).toEqual({
      caFile: '/fleet/prod/certs/ca.pem',
      certFile: '/home/tester/tls/client.pem',
      keyFile: '/home/tester/tls/client.key',
      serverName: 'cache-a.example.com',
    });
    expect(host('cache-c').memcached.tls?.serverName).toBe('10.0.0.3');
  });

  it("a host's own tls is merged over the defaults' keys, and its server_name wins", () => {
    expect(host('cache-b').memcached.tls).toEqual({
      caFile: '/etc/memplay/ca.pem',
      certFile: '/home/tester/tls/client.pem',
      keyFile: '/home/tester/tls/client.key',
      serverName: 'cache-b.internal',
    });
  });

  it('the target is built with --enable-tls after the configure arguments the playbook gives', () => {
    expect(playbook.target.configure).toEqual(['--disable-coverage', '--enable-tls']);
  });

  it('--enable-tls is added once, and not at all without memcached.tls', () => {
    const given = resolveText(`${head}  configure: ["--enable-tls"]
defaults:
  memcached:
    tls: { ca_file: /ca.pem }
hosts:
  one: { address: 10.0.0.1 }
`);
    expect(given.target.configure).toEqual(['--enable-tls']);
    const plain = resolveText(`${head}hosts:
  one: { address: 10.0.0.1 }
`);
    expect(plain.target.configure).toEqual([]);
    expect(plain.hosts[0]?.memcached.tls).toBeUndefined();
  });

  it('one TLS host is enough: the build every host of the platform shares has TLS', () => {
    const mixed = resolveText(`${head}hosts:
  plain: { address: 10.0.0.1 }
  secure:
    address: 10.0.0.2
    memcached: { tls: { ca_file: /ca.pem } }
`);
    expect(mixed.target.configure).toEqual(['--enable-tls']);
    expect(mixed.hosts.map((h) => [h.name, h.memcached.tls !== undefined])).toEqual([
      ['plain', false],
      ['secure', true],
    ]);
  });
});

const record = (overrides: Partial<TlsRecord> = {}): TlsRecord => ({
  chain: ['aa'.repeat(32), 'bb'.repeat(32)],
  subject: 'cache-1',
  protocol: 'TLSv1.3',
  minVersion: 'tlsv1.2',
  verifyMode: '0',
  ...overrides,
});

describe('the tls gate', () => {
  it('the same chain, ssl_min_version and ssl_verify_mode pass, every aspect listed', () => {
    const gate = tlsGate(record(), record({ protocol: 'TLSv1.2' }));
    expect(gate).toMatchObject({
      gate: 'tls',
      status: 'passed',
      detail: 'serves TLS with the same certificate chain (cache-1), ssl_min_version and ssl_verify_mode',
    });
    expect(gate.gate === 'tls' && gate.checks.map((c) => [c.aspect, c.same])).toEqual([
      ['served', true],
      ['chain', true],
      ['min_version', true],
      ['verify_mode', true],
    ]);
  });

  it('another certificate fails, with both chains shortened', () => {
    const gate = tlsGate(record(), record({ chain: ['cc'.repeat(32), 'bb'.repeat(32)] }));
    expect(gate.status).toBe('failed');
    expect(gate.detail).toBe(
      `changed for TLS clients: chain ${'aa'.repeat(8)}… ← ${'bb'.repeat(8)}… → ${'cc'.repeat(8)}… ← ${'bb'.repeat(8)}…`,
    );
  });

  it('a raised protocol floor or another verify mode fails, each named with both values', () => {
    const gate = tlsGate(record(), record({ minVersion: 'tlsv1.3', verifyMode: '3' }));
    expect(gate.status).toBe('failed');
    expect(gate.detail).toBe('changed for TLS clients: min_version tlsv1.2 → tlsv1.3, verify_mode 0 → 3');
  });

  it('a new instance that serves no TLS fails as not served', () => {
    const gate = tlsGate(
      record(),
      record({ chain: null, subject: null, protocol: null, error: 'serves plain TCP, not TLS' }),
    );
    expect(gate.status).toBe('failed');
    expect(gate.detail).toMatch(
      /^changed for TLS clients: served yes → no \(serves plain TCP, not TLS\), chain /,
    );
  });

  it('an old instance that did not report a setting holds the new one to nothing there', () => {
    expect(tlsGate(record({ minVersion: null }), record()).status).toBe('passed');
  });

  it("swap's start refusing a TLS connection reports the gate failed with the reason", () => {
    expect(tlsRefusedGate('port 11211 serves plain TCP, not TLS')).toEqual({
      gate: 'tls',
      status: 'failed',
      detail: 'changed for TLS clients: served yes → no (port 11211 serves plain TCP, not TLS)',
      checks: [
        { aspect: 'served', before: 'yes', after: 'no (port 11211 serves plain TCP, not TLS)', same: false },
      ],
    });
  });

  it('--check: args without -Z while the old instance serves TLS would fail; with -Z the rest is measured in apply', () => {
    expect(predictTlsGate({ ssl_enabled: 'yes' }, ['-m', '64']).status).toBe('failed');
    expect(predictTlsGate({ ssl_enabled: 'yes' }, ['-Z', '-m', '64']).status).toBe('skipped');
    expect(predictTlsGate({ ssl_enabled: 'yes' }, ['--enable-ssl']).status).toBe('skipped');
    expect(predictTlsGate({ ssl_enabled: 'no' }, []).status).toBe('skipped');
  });
});
