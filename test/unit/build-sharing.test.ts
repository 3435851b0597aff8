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

describe('planBuildSharing: hosts without a compiler, build_on and prebuilt', () => {
  const noCompiler: Platform = { ...debian, missingBuildTools: ['compiler', 'make'] };
  const canBuild: Platform = { ...debian, missingBuildTools: [] };
  const described = 'x86_64, glibc 2.36, libevent 2.1.12-stable';

  it('the first host of a platform that can compile builds for it, hosts before it without a compiler included', () => {
    const roles = planBuildSharing([
      peer('hard1', noCompiler),
      peer('plain', canBuild),
      peer('hard2', noCompiler),
    ]);
    expect(roles.get('plain')).toEqual({
      kind: 'compile',
      receivers: ['hard1', 'hard2'],
      platform: described,
    });
    // Without a compiler a failed ship cannot fall back to compiling there.
    expect(roles.get('hard1')).toEqual({
      kind: 'receive',
      builder: 'plain',
      platform: described,
      canCompile: false,
    });
    expect(roles.get('hard2')).toMatchObject({ kind: 'receive', builder: 'plain', canCompile: false });
  });

  it('a platform none of whose hosts can compile cannot be served: each host says what it lacks and the two ways out', () => {
    const roles = planBuildSharing([
      peer('hard1', noCompiler),
      peer('hard2', { ...noCompiler, missingBuildTools: ['make'] }),
    ]);
    expect(roles.get('hard1')).toEqual({
      kind: 'cannot',
      reason:
        'this host must compile and cannot: no C compiler (cc or gcc), no make on the PATH of its ssh user; ' +
        `no host of its platform (${described}) in this batch can compile — set target.build_on to a host of the ` +
        'same platform that has a compiler (or controller), or target.prebuilt to a tarball of a built tree',
    });
    expect(roles.get('hard2')).toMatchObject({
      kind: 'cannot',
      reason: expect.stringMatching(/cannot: no make on the PATH/),
    });
    // A host whose platform cannot be read is not served by others either.
    const unknown = planBuildSharing([peer('odd', { ...noCompiler, libevent: null })]);
    expect(unknown.get('odd')).toMatchObject({
      kind: 'cannot',
      reason: expect.stringContaining(
        '; its platform cannot be read, so no build can be shipped to it — set target.build_on',
      ),
    });
  });

  it('build_on: hosts of the build host’s platform receive its build, compilers or not; other platforms share as before', () => {
    const arm: Platform = { ...canBuild, arch: 'aarch64' };
    const buildHost = { kind: 'ready' as const, label: 'build host buildbox', platform: canBuild };
    const roles = planBuildSharing(
      [
        peer('hard', noCompiler),
        peer('plain', canBuild),
        peer('arm1', arm),
        peer('arm2', { ...arm, missingBuildTools: ['compiler'] }),
        peer('done', debian, { has: '1.6.38' }),
      ],
      { buildHost },
    );
    for (const name of ['hard', 'plain']) {
      expect(roles.get(name), name).toEqual({
        kind: 'shipped',
        from: { kind: 'build-host', label: 'build host buildbox' },
        platform: described,
      });
    }
    expect(roles.get('arm1')).toMatchObject({ kind: 'compile', receivers: ['arm2'] });
    expect(roles.get('arm2')).toMatchObject({ kind: 'receive', builder: 'arm1', canCompile: false });
    expect(roles.get('done')).toEqual({ kind: 'none' });
    // Alone, the arm host without a compiler hears that the build host is another platform.
    const alone = planBuildSharing([peer('arm2', { ...arm, missingBuildTools: ['compiler'] })], {
      buildHost,
    });
    expect(alone.get('arm2')).toMatchObject({
      kind: 'cannot',
      reason: expect.stringContaining(
        `in this batch can compile, and target.build_on's build host buildbox is another platform (${described}) — set`,
      ),
    });
  });

  it('a build host that cannot compile, or cannot be reached, serves no one: every host needing the build says why', () => {
    const lacking = planBuildSharing([peer('plain', canBuild)], {
      buildHost: {
        kind: 'ready',
        label: 'the controller',
        platform: { ...debian, missingBuildTools: ['libevent'] },
      },
    });
    expect(lacking.get('plain')).toEqual({
      kind: 'cannot',
      reason:
        "target.build_on's the controller cannot compile: missing libevent — install libevent-dev (Debian/Ubuntu) or libevent-devel (RHEL)",
    });
    const gone = planBuildSharing([peer('plain', canBuild), peer('done', debian, { has: '1.6.38' })], {
      buildHost: { kind: 'unreachable', label: 'build host buildbox', reason: 'connection refused' },
    });
    expect(gone.get('plain')).toEqual({
      kind: 'cannot',
      reason: "target.build_on's build host buildbox cannot be reached: connection refused",
    });
    expect(gone.get('done')).toEqual({ kind: 'none' });
  });

  it('prebuilt: every host that needs the target receives the tree, whatever it has to compile with', () => {
    const prebuilt = { file: '/srv/trees/memcached-1.6.38.tar.gz', sha256: 'd'.repeat(64) };
    const roles = planBuildSharing(
      [peer('hard', noCompiler), peer('plain', canBuild), peer('odd', { ...debian, arch: null })],
      {
        prebuilt,
      },
    );
    expect(roles.get('hard')).toEqual({
      kind: 'shipped',
      from: { kind: 'prebuilt', ...prebuilt },
      platform: described,
    });
    expect(roles.get('plain')).toMatchObject({ kind: 'shipped', from: { kind: 'prebuilt' } });
    expect(roles.get('odd')).toEqual({
      kind: 'shipped',
      from: { kind: 'prebuilt', ...prebuilt },
      platform: null,
    });
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
