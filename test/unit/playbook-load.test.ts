import { mkdtemp, readdir } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PlaybookError } from '../../src/errors.js';
import { loadPlaybook, playbookSchema, validatePlaybookFile } from '../../src/playbook/index.js';
import { diagnose, head, SHA256 } from '../support/playbook-helpers.js';

async function refusal(file: string): Promise<PlaybookError> {
  const error = await loadPlaybook(file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PlaybookError);
  return error as PlaybookError;
}

describe('loadPlaybook on the contract document', () => {
  it('validates and resolves with every default merged into host1', async () => {
    const file = 'test/fixtures/good-playbooks/contract.yml';
    expect(await validatePlaybookFile(file)).toEqual([]);
    const playbook = await loadPlaybook(file);
    expect(playbook).toEqual({
      file: resolve(file),
      name: 'lab upgrade to 1.6.38',
      target: {
        version: '1.6.38',
        source: { kind: 'path', path: '/var/cache/memplay/memcached_1.6.38.orig.tar.xz' },
        sha256: SHA256,
        configure: ['--disable-coverage'],
      },
      strategy: {
        serial: [{ kind: 'count', count: 1 }],
        maxFailPercentage: 0,
        pauseBetweenBatches: 0,
        confirmBetweenBatches: false,
      },
      backup: { dir: resolve('test/fixtures/good-playbooks/backups'), keep: { count: 3 } },
      verify: {
        sample: 1000,
        full: false,
        minRestoredRatio: 1,
        acceptSettings: [],
        maxLatencyRegression: 0.25,
        minThroughputRatio: 0.8,
      },
      swap: { mode: 'auto', memoryFile: '/dev/shm/memcached-{port}.mem' },
      hosts: [
        {
          name: 'host1',
          address: '127.0.0.1',
          connection: 'ssh',
          ssh: {
            user: 'mplab1',
            port: 2201,
            identityFile: join(homedir(), '.ssh/id_ed25519'),
            knownHosts: join(homedir(), '.ssh/known_hosts'),
            // known_hosts is named: it replaces the user files, the global ones are still read
            otherKnownHosts: ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'],
            connectTimeoutMs: 10_000,
          },
          memcached: {
            port: 11301,
            prefix: '/home/mplab1/memcached',
            args: ['-l', '127.0.0.1', '-m', '256'],
            keepBuilds: 2,
            service: { manager: 'pidfile', pidfile: '/home/mplab1/memcached.pid' },
          },
          become: false,
          // Where errors about the running instance point: the host's own port, the defaults' args.
          origins: { port: `${file}:29:13`, args: `${file}:17:5` },
        },
      ],
      groups: { east: ['host1'] },
    });
  });
});

describe('examples/', () => {
  it('every example validates and resolves, its yaml-language-server line notwithstanding', async () => {
    const names = (await readdir('examples')).filter((name) => name.endsWith('.yml'));
    expect(names).toEqual(
      expect.arrayContaining([
        'lab-upgrade.yml',
        'systemd-sudo.yml',
        'percentage-rollout.yml',
        'drain-before-swap.yml',
        'tls.yml',
      ]),
    );
    for (const name of names) {
      const file = join('examples', name);
      expect(await validatePlaybookFile(file), file).toEqual([]);
      const playbook = await loadPlaybook(file);
      expect(playbook.hosts.length, file).toBeGreaterThan(0);
    }
  });

  it('lab-upgrade.yml is the contract document under a schema line', async () => {
    const example = await loadPlaybook('examples/lab-upgrade.yml');
    const contract = await loadPlaybook('test/fixtures/good-playbooks/contract.yml');
    // Only where each setting sits differs: the example has a schema line on top.
    const bare = (playbook: typeof example) => ({
      ...playbook,
      file: '',
      backup: {},
      hosts: playbook.hosts.map(({ origins: _, ...host }) => host),
    });
    expect(bare(example)).toEqual(bare(contract));
  });

  it('systemd-sudo.yml restarts units through sudo, with a per-host unit override', async () => {
    const playbook = await loadPlaybook('examples/systemd-sudo.yml');
    expect(playbook.target.source).toEqual({
      kind: 'url',
      url: 'https://deb.debian.org/debian/pool/main/m/memcached/memcached_1.6.38.orig.tar.xz',
    });
    const dropIn = (unit: string) => `/etc/systemd/system/${unit}.d/memplay.conf`;
    expect(playbook.hosts.map((h) => [h.name, h.become, h.memcached.service])).toEqual([
      [
        'cache-a1',
        true,
        { manager: 'systemd', unit: 'memcached.service', dropIn: dropIn('memcached.service') },
      ],
      [
        'cache-a2',
        true,
        { manager: 'systemd', unit: 'memcached.service', dropIn: dropIn('memcached.service') },
      ],
      [
        'cache-b1',
        true,
        { manager: 'systemd', unit: 'memcached@b1.service', dropIn: dropIn('memcached@b1.service') },
      ],
    ]);
    expect(playbook.hosts[2]?.ssh).toMatchObject({ user: 'deploy', port: 2222, connectTimeoutMs: 15_000 });
    expect(playbook.backup.dir).toBe(join(homedir(), 'memplay-backups'));
  });

  it('percentage-rollout.yml batches by 25% and resolves its paths against examples/', async () => {
    const playbook = await loadPlaybook('examples/percentage-rollout.yml');
    expect(playbook.strategy).toEqual({
      serial: [{ kind: 'percent', percent: 25 }],
      maxFailPercentage: 25,
      pauseBetweenBatches: 0,
      confirmBetweenBatches: false,
    });
    expect(playbook.target.source).toEqual({
      kind: 'path',
      path: resolve('examples/tarballs/memcached_1.6.38.orig.tar.xz'),
    });
    expect(playbook.target.sha256).toBe(SHA256);
    expect(playbook.hosts[0]?.ssh.knownHosts).toBe(resolve('examples/known_hosts'));
    expect(playbook.hosts.at(-1)?.memcached.args).toEqual(['-m', '2048']);
    expect(playbook.hosts[0]?.memcached.args).toEqual(['-m', '1024']);
  });
});

describe('files that cannot be read', () => {
  it('a missing file is one diagnostic at 1:1 saying so', async () => {
    const file = join(tmpdir(), 'memplay-no-such-playbook.yml');
    const expected = [
      { file, line: 1, col: 1, message: 'cannot read the playbook: no such file; check the path' },
    ];
    expect(await validatePlaybookFile(file)).toEqual(expected);
    expect((await refusal(file)).diagnostics).toEqual(expected);
  });

  it('a folder is refused with the hint to give a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memplay-playbook-'));
    expect(await validatePlaybookFile(dir)).toEqual([
      {
        file: dir,
        line: 1,
        col: 1,
        message: 'cannot read the playbook: this is a folder; give the path of a .yml file',
      },
    ]);
  });

  it('the PlaybookError message lists every problem as FILE:LINE:COL: message', async () => {
    const error = await refusal('test/fixtures/bad-playbooks/three-independent-mistakes.yml');
    expect(error.message.split('\n')).toEqual([
      'test/fixtures/bad-playbooks/three-independent-mistakes.yml:6:12: target.version: "1.6" is not a version like 1.6.38',
      'test/fixtures/bad-playbooks/three-independent-mistakes.yml:11:11: strategy.serial: must be a count ≥ 1 or a percentage like "25%", or a list of them like [1, "25%"] (got 0)',
      'test/fixtures/bad-playbooks/three-independent-mistakes.yml:15:12: hosts.host1.ssh: unknown key "prot" — did you mean "port"?',
    ]);
  });
});

describe('positions and wording', () => {
  it('points at the bad value and at the unknown key inside a flow mapping', () => {
    const text = [
      'name: broken',
      'target:',
      '  version: "1.6"',
      '  source:',
      '    path: /tmp/x.tar.xz',
      `    sha256: ${SHA256}`,
      'hosts:',
      '  host1:',
      '    address: 127.0.0.1',
      '    memcached: { prefix: /opt/m, prot: 1 }',
    ].join('\n');
    expect(diagnose(text)).toEqual([
      { file: 'fleet.yml', line: 3, col: 12, message: 'target.version: "1.6" is not a version like 1.6.38' },
      {
        file: 'fleet.yml',
        line: 10,
        col: 34,
        message: 'hosts.host1.memcached: unknown key "prot" — did you mean "port"?',
      },
    ]);
  });

  it('a duplicate key does not stop the schema check; a syntax error does', () => {
    const duplicate = `${head}hosts:\n  host1:\n    address: 10.0.0.1\n    address: 10.0.0.2\n    sssh: {}\n`;
    expect(diagnose(duplicate).map((d) => `${d.line}:${d.col}: ${d.message}`)).toEqual([
      '10:5: hosts.host1: duplicate key "address" (first set on line 9); YAML would keep only the last one — remove or merge one of them',
      '11:5: hosts.host1: unknown key "sssh" — did you mean "ssh"?',
    ]);
    const broken = `${head}hosts:\n  host1: {address: 10.0.0.1\n  sssh: {}\n`;
    const diagnostics = diagnose(broken);
    expect(diagnostics.length).toBeGreaterThan(0);
    expect(diagnostics.every((d) => d.message.startsWith('YAML syntax: '))).toBe(true);
  });

  it('an unknown key far from every allowed one lists the allowed keys', () => {
    expect(diagnose(`${head}hosts:\n  host1:\n    address: 10.0.0.1\n    ssh: { flavour: x }\n`)).toEqual([
      {
        file: 'fleet.yml',
        line: 10,
        col: 12,
        message:
          'hosts.host1.ssh: unknown key "flavour"; the keys allowed here are "user", "port", "identity_file", "known_hosts", "connect_timeout", "jump", "legacy_algorithms" and "config_file"',
      },
    ]);
  });

  it('sha256 in upper case is accepted', () => {
    expect(diagnose(`${head.replace(SHA256, SHA256.toUpperCase())}hosts:\n  h: { address: a }\n`)).toEqual(
      [],
    );
  });

  it('a host name with a dot is quoted in paths so it cannot be misread as nesting', () => {
    const text = `${head}hosts:\n  cache1.example.com:\n    address: 10.0.0.1\n    memcached: { port: 0 }\n`;
    expect(diagnose(text).map((d) => d.message)).toEqual([
      'hosts["cache1.example.com"].memcached.port: must be a port number from 1 to 65535 (got 0)',
    ]);
  });
});

describe('the schema', () => {
  it('rejects unknown keys everywhere and describes every property for docs/playbook-reference.md', () => {
    const missing: string[] = [];
    const open: string[] = [];
    const walk = (node: unknown, where: string, isProperty: boolean) => {
      if (typeof node !== 'object' || node === null) return;
      const schema = node as Record<string, unknown>;
      if (isProperty && (typeof schema.title !== 'string' || typeof schema.description !== 'string')) {
        // A property that is only a $ref is described by its definition.
        if (typeof schema.$ref !== 'string') missing.push(where);
      }
      if (schema.type === 'object' && schema.properties && schema.additionalProperties !== false)
        open.push(where);
      for (const [name, child] of Object.entries((schema.properties ?? {}) as Record<string, unknown>)) {
        walk(child, `${where}.${name}`, true);
      }
      for (const [name, child] of Object.entries((schema.$defs ?? {}) as Record<string, unknown>)) {
        walk(child, `$defs.${name}`, true);
      }
      if (typeof schema.additionalProperties === 'object')
        walk(schema.additionalProperties, `${where}.*`, false);
    };
    walk(playbookSchema, '#', false);
    expect(missing).toEqual([]);
    expect(open).toEqual([]);
    expect(playbookSchema.$id).toMatch(/^https:\/\/.+playbook\.schema\.json$/);
  });
});
