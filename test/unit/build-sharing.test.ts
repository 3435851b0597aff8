import { describe, expect, it } from 'vitest';
import type { HostFacts, Platform } from '../../src/facts/host-facts.js';
import type { Target } from '../../src/playbook/types.js';
import { BuildExchange, planBuildSharing } from '../../src/tasks/build-sharing.js';
import type { BuildPeer } from '../../src/tasks/task.js';

const debian: Platform = { arch: 'x86_64', libc: 'glibc 2.36', libevent: '2.1.12-stable' };
const target = {
  version: '1.6.38',
  sha256: 'a'.repeat(64),
  source: { kind: 'path', path: '/tmp/memcached.tar.xz' },
  configure: [],
} as unknown as Target;

function peer(
  name: string,
  platform: Platform,
  options: { has?: string; target?: Partial<Target> } = {},
): BuildPeer {
  const facts: HostFacts = {
    runningVersion: '1.6.18',
    currentLink: '1.6.18',
    previousLink: null,
    builds: options.has ? [{ dir: options.has, reportedVersion: options.has, madeByMemplay: true }] : [],
    pid: 1,
    commandLine: null,
    platform,
  };
  return { name, facts, target: { ...target, ...options.target } };
}

describe('planBuildSharing: one build per platform fingerprint', () => {
  it('the first host of each platform compiles, the later ones of that platform receive its build', () => {
    const arm: Platform = { ...debian, arch: 'aarch64' };
    const roles = planBuildSharing([
      peer('host1', debian),
      peer('host2', arm),
      peer('host3', debian),
      peer('host4', arm),
      peer('host5', debian),
    ]);
    expect(roles.get('host1')).toEqual({
      kind: 'compile',
      receivers: ['host3', 'host5'],
      platform: 'x86_64, glibc 2.36, libevent 2.1.12-stable',
    });
    expect(roles.get('host3')).toEqual({
      kind: 'receive',
      builder: 'host1',
      platform: 'x86_64, glibc 2.36, libevent 2.1.12-stable',
    });
    expect(roles.get('host2')).toMatchObject({ kind: 'compile', receivers: ['host4'] });
    expect(roles.get('host4')).toMatchObject({ kind: 'receive', builder: 'host2' });
  });

  it('a different libc, libevent, tarball or configure argument means a build of its own', () => {
    const roles = planBuildSharing([
      peer('host1', debian),
      peer('libc', { ...debian, libc: 'glibc 2.31' }),
      peer('libevent', { ...debian, libevent: '2.1.11-stable' }),
      peer('tarball', debian, { target: { sha256: 'b'.repeat(64) } }),
      peer('configure', debian, { target: { configure: ['--enable-tls'] } }),
    ]);
    for (const name of ['host1', 'libc', 'libevent', 'tarball', 'configure'])
      expect(roles.get(name), name).toMatchObject({ kind: 'compile', receivers: [] });
  });

  it('a host that already has the target builds nothing and is no builder; an unknown platform compiles alone', () => {
    const roles = planBuildSharing([
      peer('done', debian, { has: '1.6.38' }),
      peer('unknown', { ...debian, libevent: null }),
      peer('host3', debian),
      peer('host4', { ...debian, libevent: null }),
    ]);
    expect(roles.get('done')).toEqual({ kind: 'none' });
    expect(roles.get('unknown')).toEqual({ kind: 'compile', receivers: [], platform: null });
    expect(roles.get('host3')).toMatchObject({ kind: 'compile', receivers: [] });
    expect(roles.get('host4')).toEqual({ kind: 'compile', receivers: [], platform: null });
  });
});

describe('BuildExchange', () => {
  it('a receiver gets what the builder publishes, whichever comes first', async () => {
    const exchange = new BuildExchange();
    const waiting = exchange.waitFor('k', 'host1');
    const build = { builder: 'host1', path: '/tmp/x.tar', sha256: 'c'.repeat(64), bytes: 1 };
    exchange.publish('k', 'host1', build);
    await expect(waiting).resolves.toEqual(build);
    await expect(exchange.waitFor('k', 'host1')).resolves.toEqual(build);
  });

  it('a builder that finishes its phase without publishing releases its receivers, even late ones', async () => {
    const exchange = new BuildExchange();
    const early = exchange.waitFor('k', 'host1');
    exchange.hostFinished('host1');
    await expect(early).rejects.toThrow('host1 finished without building it');
    await expect(exchange.waitFor('other', 'host1')).rejects.toThrow('host1 finished without building it');
  });
});
