import { describe, expect, it } from 'vitest';
import { deepMerge, mergeHostSettings } from '../../src/playbook/merge.js';
import { localPath } from '../../src/playbook/resolve.js';
import { head, resolveText, SHA256 } from '../support/playbook-helpers.js';

describe('defaults merged into hosts', () => {
  it('a host keeps the default keys it does not set, key by key inside ssh and memcached', () => {
    const playbook = resolveText(`${head}defaults:
  ssh: { user: deploy, port: 22, identity_file: ~/.ssh/deploy }
  memcached: { port: 11211, prefix: /opt/memcached, args: ["-m", "64"] }
hosts:
  a:
    address: 10.0.0.1
    ssh: { port: 2201 }
    memcached: { port: 11301 }
  b:
    address: 10.0.0.2
`);
    const [a, b] = playbook.hosts;
    expect(a?.ssh).toEqual({
      user: 'deploy',
      port: 2201,
      identityFile: '/home/tester/.ssh/deploy',
      knownHosts: '/home/tester/.ssh/known_hosts',
      otherKnownHosts: [
        '/home/tester/.ssh/known_hosts2',
        '/etc/ssh/ssh_known_hosts',
        '/etc/ssh/ssh_known_hosts2',
      ],
      connectTimeoutMs: 10_000,
    });
    expect(a?.memcached).toEqual({
      port: 11301,
      prefix: '/opt/memcached',
      args: ['-m', '64'],
      keepBuilds: 2,
      service: { manager: 'pidfile', pidfile: '/opt/memcached/memcached.pid' },
    });
    expect(b?.ssh.port).toBe(22);
    expect(b?.memcached.port).toBe(11211);
  });

  it("a host's list replaces the default list instead of adding to it", () => {
    const playbook = resolveText(`${head}defaults:
  memcached: { args: ["-l", "127.0.0.1", "-m", "64"] }
hosts:
  a: { address: 10.0.0.1, memcached: { args: ["-m", "128"] } }
  b: { address: 10.0.0.2, memcached: { args: [] } }
`);
    expect(playbook.hosts.map((h) => h.memcached.args)).toEqual([['-m', '128'], []]);
  });

  it('without defaults every setting takes its documented default', () => {
    const playbook = resolveText(`${head}hosts:\n  only: { address: cache.example.com }\n`);
    expect(playbook.strategy).toEqual({
      serial: [{ kind: 'count', count: 1 }],
      maxFailPercentage: 0,
      pauseBetweenBatches: 0,
      confirmBetweenBatches: false,
    });
    expect(playbook.backup.dir).toBe('/fleet/prod/backups');
    expect(playbook.backup.keep).toEqual({ count: 3 });
    expect(playbook.target.configure).toEqual([]);
    expect(playbook.groups).toEqual({});
    const [host] = playbook.hosts;
    expect(host).toEqual({
      name: 'only',
      address: 'cache.example.com',
      connection: 'ssh',
      ssh: {
        user: 'tester',
        port: 22,
        knownHosts: '/home/tester/.ssh/known_hosts',
        otherKnownHosts: [
          '/home/tester/.ssh/known_hosts2',
          '/etc/ssh/ssh_known_hosts',
          '/etc/ssh/ssh_known_hosts2',
        ],
        connectTimeoutMs: 10_000,
      },
      memcached: {
        port: 11211,
        prefix: '/opt/memcached',
        args: [],
        // Left out: a package host carries its running instance's over (src/facts/carried-args.ts).
        argsLeftOut: true,
        keepBuilds: 2,
        service: { manager: 'pidfile', pidfile: '/opt/memcached/memcached.pid' },
      },
      become: false,
    });
    expect(host && 'identityFile' in host.ssh).toBe(false);
  });

  it("the default pidfile follows the host's own prefix", () => {
    const playbook = resolveText(`${head}hosts:\n  a: { address: x, memcached: { prefix: /srv/mc } }\n`);
    expect(playbook.hosts[0]?.memcached.service).toEqual({
      manager: 'pidfile',
      pidfile: '/srv/mc/memcached.pid',
    });
  });

  it('a host naming another manager replaces the default service; one naming none merges into it', () => {
    const playbook = resolveText(`${head}defaults:
  become: true
  memcached: { service: { manager: pidfile, pidfile: /run/memcached.pid } }
hosts:
  a: { address: 10.0.0.1, memcached: { service: { manager: systemd, unit: memcached.service } } }
  b: { address: 10.0.0.2, memcached: { service: { pidfile: /run/b.pid } } }
  c: { address: 10.0.0.3, become: false, connection: local }
`);
    expect(playbook.hosts.map((h) => [h.name, h.memcached.service, h.become, h.connection])).toEqual([
      [
        'a',
        {
          manager: 'systemd',
          unit: 'memcached.service',
          dropIn: '/etc/systemd/system/memcached.service.d/memplay.conf',
        },
        true,
        'ssh',
      ],
      ['b', { manager: 'pidfile', pidfile: '/run/b.pid' }, true, 'ssh'],
      ['c', { manager: 'pidfile', pidfile: '/run/memcached.pid' }, false, 'local'],
    ]);
  });

  it('hosts come out in the order the playbook lists them', () => {
    const playbook = resolveText(
      `${head}hosts:\n  zeta: { address: z }\n  alpha: { address: a }\n  mid: { address: m }\n`,
    );
    expect(playbook.hosts.map((h) => h.name)).toEqual(['zeta', 'alpha', 'mid']);
  });

  it('deepMerge leaves both inputs untouched', () => {
    const defaults = { ssh: { user: 'deploy', port: 22 } };
    const host = { ssh: { port: 2201 } };
    expect(deepMerge(defaults, host)).toEqual({ ssh: { user: 'deploy', port: 2201 } });
    expect(defaults).toEqual({ ssh: { user: 'deploy', port: 22 } });
    expect(host).toEqual({ ssh: { port: 2201 } });
    expect(mergeHostSettings(undefined, { become: true })).toEqual({ become: true });
  });
});

describe('controller-side paths', () => {
  it('a relative source path is taken from the playbook folder, ~ from the home folder', () => {
    const relative = resolveText(
      `${head.replace('/srv/memcached-1.6.38.tar.gz', '../tarballs/memcached-1.6.38.tar.gz')}hosts:\n  a: { address: x }\n`,
    );
    expect(relative.target.source).toEqual({ kind: 'path', path: '/fleet/tarballs/memcached-1.6.38.tar.gz' });
    const home = resolveText(
      `${head.replace('/srv/memcached-1.6.38.tar.gz', '~/src/m.tar.gz')}hosts:\n  a: { address: x }\n`,
    );
    expect(home.target.source).toEqual({ kind: 'path', path: '/home/tester/src/m.tar.gz' });
  });

  it('identity_file, known_hosts and backup.dir resolve the same way; the remote prefix is left alone', () => {
    const playbook = resolveText(`${head}defaults:
  ssh: { identity_file: keys/id, known_hosts: ~/kh }
backup: { dir: /var/backups/memplay }
hosts:
  a: { address: x, memcached: { prefix: /home/deploy/memcached } }
`);
    expect(playbook.hosts[0]?.ssh).toMatchObject({
      identityFile: '/fleet/prod/keys/id',
      knownHosts: '/home/tester/kh',
    });
    expect(playbook.hosts[0]?.memcached.prefix).toBe('/home/deploy/memcached');
    expect(playbook.backup.dir).toBe('/var/backups/memplay');
  });

  it('backup.keep applies exactly the limits it gives: a count, an age in seconds, or both', () => {
    const keep = (yaml: string) =>
      resolveText(`${head}backup: { keep: ${yaml} }\nhosts:\n  a: { address: x }\n`).backup.keep;
    expect(keep('{ count: 5 }')).toEqual({ count: 5 });
    expect(keep('{ max_age: "12h" }')).toEqual({ maxAge: { text: '12h', seconds: 12 * 3600 } });
    expect(keep('{ count: 2, max_age: 7d }')).toEqual({
      count: 2,
      maxAge: { text: '7d', seconds: 7 * 86_400 },
    });
    expect(keep('{ max_age: 30m }').maxAge?.seconds).toBe(1800);
    expect(keep('{ max_age: 2w }').maxAge?.seconds).toBe(14 * 86_400);
  });

  it('localPath expands a lone ~ and normalizes ./ and ../', () => {
    expect(localPath('~', '/p', '/home/t')).toBe('/home/t');
    expect(localPath('./a/../b', '/p/q', '/home/t')).toBe('/p/q/b');
    expect(localPath('/abs', '/p', '/home/t')).toBe('/abs');
  });
});

describe('target and strategy', () => {
  it('a url source, an upper-case sha256, a percentage serial and a fractional timeout', () => {
    const playbook = resolveText(`name: n
target:
  version: "1.6.38"
  source: { url: "https://memcached.org/files/memcached-1.6.38.tar.gz", sha256: ${SHA256.toUpperCase()} }
  configure: ["--enable-tls"]
defaults: { ssh: { connect_timeout: 2.5 } }
strategy: { serial: "25%", max_fail_percentage: 12.5 }
hosts:
  a: { address: x }
`);
    expect(playbook.target).toEqual({
      version: '1.6.38',
      source: { kind: 'url', url: 'https://memcached.org/files/memcached-1.6.38.tar.gz' },
      sha256: SHA256,
      configure: ['--enable-tls'],
    });
    expect(playbook.strategy).toEqual({
      serial: [{ kind: 'percent', percent: 25 }],
      maxFailPercentage: 12.5,
      pauseBetweenBatches: 0,
      confirmBetweenBatches: false,
    });
    expect(playbook.hosts[0]?.ssh.connectTimeoutMs).toBe(2500);
  });

  it('a list serial, a pause, a question and a failure budget; the budget alone decides without max_fail_percentage', () => {
    const playbook = resolveText(`${head}strategy:
  serial: [1, "25%", "100%"]
  max_failed_hosts: "10%"
  pause_between_batches: 2.5
  confirm_between_batches: true
hosts:
  a: { address: x }
`);
    expect(playbook.strategy).toEqual({
      serial: [
        { kind: 'count', count: 1 },
        { kind: 'percent', percent: 25 },
        { kind: 'percent', percent: 100 },
      ],
      maxFailPercentage: 100,
      maxFailedHosts: { kind: 'percent', percent: 10 },
      pauseBetweenBatches: 2.5,
      confirmBetweenBatches: true,
    });
  });

  it('max_fail_percentage written beside max_failed_hosts keeps its value: both limits apply', () => {
    const playbook =
      resolveText(`${head}strategy: { serial: [2], max_failed_hosts: 0, max_fail_percentage: 0 }
hosts:
  a: { address: x }
`);
    expect(playbook.strategy).toMatchObject({
      serial: [{ kind: 'count', count: 2 }],
      maxFailPercentage: 0,
      maxFailedHosts: { kind: 'count', count: 0 },
    });
  });
});

describe('target.build_on and target.prebuilt', () => {
  const hosts = `defaults:
  ssh: { user: deploy, identity_file: ~/.ssh/deploy }
hosts:
  cache1: { address: 10.0.0.1 }
  builder: { address: 10.0.0.9, ssh: { port: 2222 } }
`;

  it('controller is the controller itself, over a local connection the defaults do not reach', () => {
    const { target } = resolveText(`${head}  build_on: controller\n${hosts}`);
    expect(target.buildOn).toMatchObject({
      where: 'controller',
      inFleet: false,
      host: { name: 'controller', address: 'localhost', connection: 'local' },
    });
    expect(target.buildOn?.host.ssh.user).toBe('tester');
  });

  it("a host's name is that host as its entry resolves; a mapping is a host outside the fleet, with the defaults", () => {
    const named = resolveText(`${head}  build_on: builder\n${hosts}`);
    expect(named.target.buildOn).toEqual({
      where: 'host',
      inFleet: true,
      host: named.hosts.find((h) => h.name === 'builder'),
    });
    const outside = resolveText(
      `${head}  build_on: { address: build.example.com, ssh: { port: 2200 } }\n${hosts}`,
    );
    expect(outside.target.buildOn).toMatchObject({
      where: 'host',
      inFleet: false,
      host: {
        name: 'build.example.com',
        address: 'build.example.com',
        connection: 'ssh',
        ssh: { user: 'deploy', port: 2200, identityFile: '/home/tester/.ssh/deploy' },
      },
    });
    expect(outside.hosts.map((h) => h.name)).toEqual(['cache1', 'builder']);
  });

  it("prebuilt's file is taken from the playbook's folder and its sha256 in lower case; neither key: neither field", () => {
    const { target } = resolveText(
      `${head}  prebuilt: { file: trees/memcached-1.6.38.tar.gz, sha256: ${SHA256.toUpperCase()} }\n${hosts}`,
    );
    expect(target.prebuilt).toEqual({ file: '/fleet/prod/trees/memcached-1.6.38.tar.gz', sha256: SHA256 });
    const plain = resolveText(`${head}${hosts}`).target;
    expect('buildOn' in plain || 'prebuilt' in plain).toBe(false);
  });
});
