import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TaskFailed } from '../../../src/errors.js';
import { build } from '../../../src/tasks/build.js';
import { BuildHostService } from '../../../src/tasks/build-host.js';
import { compile } from '../../../src/tasks/build-steps.js';
import { answers, RecordingTransport } from '../../support/recording-transport.js';
import { fixturePlaybook, hostFacts, taskContext } from '../../support/task-context.js';

// build's plan reads the controller's tarball (sha256, size) and, on a host that
// compiles, asks the host in one script whether a compiler, make, tar, xz and
// libevent's headers are there. Nothing else.

const tarballBytes = Buffer.from('not really a tarball: the plan only hashes and sizes it\n');
let dir: string;
let tarball: string;
let sha256: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memplay-build-fixture-'));
  tarball = join(dir, 'memcached-1.6.38.tar.gz');
  await writeFile(tarball, tarballBytes);
  sha256 = createHash('sha256').update(tarballBytes).digest('hex');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function playbook(extra: Record<string, unknown> = {}) {
  return fixturePlaybook({
    target: { source: { path: tarball, sha256 } },
    defaults: { memcached: { keep_builds: 1 } },
    ...extra,
  });
}

const sixteen = { dir: '1.6.16', reportedVersion: '1.6.16', madeByMemplay: true };

describe('build plan', () => {
  it('a working build of the target: ok, and nothing is asked of the host', async () => {
    const f = taskContext({ playbook: playbook() });
    const facts = hostFacts({
      builds: [
        { dir: '1.6.18', reportedVersion: '1.6.18', madeByMemplay: true },
        { dir: '1.6.38', reportedVersion: '1.6.38', madeByMemplay: true },
      ],
    });
    const plan = await build.plan(f.ctx, facts);
    expect(plan).toEqual({ status: 'ok', detail: '1.6.38 already built at /opt/memcached/1.6.38', facts });
    expect(f.transport.commands).toEqual([]);
    expect(f.transport.transferProbes).toBe(0);
  });

  it('never prunes a folder memplay did not install: no marker, or a name that is not a version', async () => {
    const transport = new RecordingTransport({ run: [answers(/command -v cc/, '\n')] });
    const f = taskContext({ playbook: playbook({ defaults: { memcached: { keep_builds: 0 } } }), transport });
    const facts = hostFacts({
      currentLink: '1.6.18',
      previousLink: null,
      builds: [
        { dir: '1.6.10', reportedVersion: '1.6.10', madeByMemplay: true },
        { dir: '1.6.12', reportedVersion: '1.6.12', madeByMemplay: false },
        { dir: 'usr', reportedVersion: '1.6.9', madeByMemplay: true },
        { dir: '1.6.18', reportedVersion: '1.6.18', madeByMemplay: true },
      ],
    });
    const plan = await build.plan(f.ctx, facts);
    expect(plan.status).toBe('changed');
    if (plan.status !== 'changed') return;
    expect(plan.decision?.prune).toEqual(['1.6.10']);
  });

  it('compiles after one prerequisites check, and prunes past keep_builds but never current, previous or the target', async () => {
    const transport = new RecordingTransport({ run: [answers(/command -v cc/, '\n')] });
    const f = taskContext({ playbook: playbook(), transport });
    const facts = hostFacts({
      currentLink: '1.6.18',
      previousLink: '1.6.9',
      builds: [
        { dir: '1.6.9', reportedVersion: '1.6.9', madeByMemplay: true },
        { dir: '1.6.10', reportedVersion: '1.6.10', madeByMemplay: true },
        { dir: '1.6.12', reportedVersion: '1.6.12', madeByMemplay: true },
        sixteen,
        { dir: '1.6.18', reportedVersion: '1.6.18', madeByMemplay: true },
      ],
    });
    const plan = await build.plan(f.ctx, facts);
    expect(plan.status).toBe('changed');
    if (plan.status !== 'changed') return;
    expect(plan.actions?.map((a) => ({ ...a, text: undefined }))).toEqual([
      { kind: 'compile', version: '1.6.38', bytes: tarballBytes.length, transfer: 'sftp', text: undefined },
      { kind: 'prune', text: undefined },
    ]);
    expect(plan.actions?.[1]?.text).toBe('remove old builds 1.6.12, 1.6.10 (keep_builds 1)');
    expect(plan.detail).toBe(
      'build 1.6.38 from memcached-1.6.38.tar.gz into /opt/memcached/1.6.38; then remove old builds 1.6.12, 1.6.10 (keep_builds 1)',
    );
    // The host after apply: the new build beside what the prune keeps.
    expect(plan.facts.builds).toEqual([
      { dir: '1.6.9', reportedVersion: '1.6.9', madeByMemplay: true },
      sixteen,
      { dir: '1.6.18', reportedVersion: '1.6.18', madeByMemplay: true },
      { dir: '1.6.38', reportedVersion: '1.6.38', madeByMemplay: true },
    ]);
    expect(transport.commands).toHaveLength(1);
    expect(transport.commands[0]).toMatch(
      /^sh -c '\nmissing=.*\ncommand -v cc .*command -v make .*#include <event.h>/s,
    );
    expect(transport.uploads).toEqual([]);
    expect(f.runWrites()).toEqual([]);
    // What apply executes: compile here, then remove exactly these.
    expect(plan.decision).toEqual({
      role: { kind: 'compile', receivers: [], platform: 'x86_64, glibc 2.36, libevent 2.1.12-stable' },
      prune: ['1.6.12', '1.6.10'],
      transfer: 'sftp',
    });
    // How the tarball would get there was asked once (an SFTP session opened and closed).
    expect(transport.transferProbes).toBe(1);
  });

  it('a target directory that does not run is replaced, said in the detail', async () => {
    const transport = new RecordingTransport({ run: [answers(/command -v cc/, '\n')] });
    const f = taskContext({ playbook: playbook(), transport });
    const facts = hostFacts({
      builds: [
        { dir: '1.6.18', reportedVersion: '1.6.18', madeByMemplay: true },
        { dir: '1.6.38', reportedVersion: null, madeByMemplay: true },
      ],
    });
    const plan = await build.plan(f.ctx, facts);
    expect(plan.status).toBe('changed');
    expect(plan.detail).toContain('(replacing /opt/memcached/1.6.38, which does not run)');
    expect(plan.facts.builds).toContainEqual({
      dir: '1.6.38',
      reportedVersion: '1.6.38',
      madeByMemplay: true,
    });
    expect(plan.facts.builds).toHaveLength(2);
  });

  it('a host without a compiler or libevent headers fails, naming the packages to install', async () => {
    const transport = new RecordingTransport({ run: [answers(/command -v cc/, ' compiler libevent\n')] });
    const f = taskContext({ playbook: playbook(), transport });
    const failure = await build.plan(f.ctx, hostFacts()).catch((e) => e);
    expect(failure).toBeInstanceOf(TaskFailed);
    expect(failure).toMatchObject({ host: 'cache-1', task: 'build' });
    expect(failure.detail).toBe(
      'cannot build on this host: missing compiler, libevent — install build-essential (Debian/Ubuntu) or gcc (RHEL); libevent-dev (Debian/Ubuntu) or libevent-devel (RHEL)',
    );
    expect(transport.commands).toHaveLength(1);
  });

  it('a build with --enable-tls asks for OpenSSL headers too, and names libssl-dev / openssl-devel when they are missing', async () => {
    const transport = new RecordingTransport({ run: [answers(/command -v cc/, ' openssl\n')] });
    const f = taskContext({
      playbook: fixturePlaybook({
        target: { source: { path: tarball, sha256 }, configure: ['--enable-tls'] },
      }),
      transport,
    });
    const failure = await build.plan(f.ctx, hostFacts()).catch((e) => e);
    expect(failure).toBeInstanceOf(TaskFailed);
    expect(failure.detail).toBe(
      'cannot build on this host: missing openssl — install libssl-dev (Debian/Ubuntu) or openssl-devel (RHEL), for --enable-tls',
    );
    expect(transport.commands[0]).toMatch(/#include <openssl\/ssl\.h>/);
  });

  it('a build without TLS does not need OpenSSL headers: their absence does not stop it', async () => {
    const transport = new RecordingTransport({ run: [answers(/command -v cc/, ' openssl\n')] });
    const f = taskContext({ playbook: playbook(), transport });
    const plan = await build.plan(f.ctx, hostFacts());
    expect(plan.status).toBe('changed');
  });

  it('a tarball whose sha256 differs from the playbook fails before the host is asked anything', async () => {
    const f = taskContext({
      playbook: fixturePlaybook({ target: { source: { path: tarball, sha256: '0'.repeat(64) } } }),
    });
    const failure = await build.plan(f.ctx, hostFacts()).catch((e) => e);
    expect(failure).toBeInstanceOf(TaskFailed);
    expect(failure.detail).toBe(
      `sha256 of memcached-1.6.38.tar.gz is ${sha256}, playbook says ${'0'.repeat(64)} — check target.source.sha256`,
    );
    expect(f.transport.commands).toEqual([]);
  });

  it('the second host of a platform receives the first one’s build: a ship action, no prerequisites check', async () => {
    const pb = playbook({
      hosts: { 'cache-1': { address: '10.0.0.1' }, 'cache-2': { address: '10.0.0.2' } },
    });
    const facts = hostFacts();
    const f = taskContext({
      playbook: pb,
      host: 'cache-2',
      peers: [
        { name: 'cache-1', facts, target: pb.target },
        { name: 'cache-2', facts, target: pb.target },
      ],
    });
    const plan = await build.plan(f.ctx, facts);
    expect(plan.status).toBe('changed');
    if (plan.status !== 'changed') return;
    expect(plan.actions).toEqual([
      {
        kind: 'ship',
        version: '1.6.38',
        from: 'cache-1',
        transfer: 'sftp',
        text: 'receive 1.6.38 built on cache-1 (same platform) into /opt/memcached/1.6.38',
      },
    ]);
    expect(f.runWrites()).toEqual([]);
    expect(plan.detail).toBe(
      'ship 1.6.38 built on cache-1 (same platform: x86_64, glibc 2.36, libevent 2.1.12-stable) into /opt/memcached/1.6.38',
    );
    expect(f.transport.commands).toEqual([]);
  });

  it('the builder of a shared build says whom it ships to', async () => {
    const pb = playbook({
      hosts: { 'cache-1': { address: '10.0.0.1' }, 'cache-2': { address: '10.0.0.2' } },
    });
    const facts = hostFacts();
    const transport = new RecordingTransport({ run: [answers(/command -v cc/, '\n')] });
    const f = taskContext({
      playbook: pb,
      transport,
      peers: [
        { name: 'cache-1', facts, target: pb.target },
        { name: 'cache-2', facts, target: pb.target },
      ],
    });
    const plan = await build.plan(f.ctx, facts);
    expect(plan.detail).toContain(
      '; ship it to cache-2 (same platform: x86_64, glibc 2.36, libevent 2.1.12-stable)',
    );
    expect(plan.status === 'changed' && plan.actions?.[0]?.text).toMatch(/, then ship it to cache-2$/);
    expect(transport.commands).toHaveLength(1);
  });

  it('a host whose sshd refuses SFTP: --check says the exec stream will carry the tarball and the packed tree', async () => {
    const pb = playbook({
      hosts: { 'cache-1': { address: '10.0.0.1' }, 'cache-2': { address: '10.0.0.2' } },
    });
    const facts = hostFacts();
    const transport = new RecordingTransport({
      run: [answers(/command -v cc/, '\n')],
      transfer: 'exec-stream',
    });
    const f = taskContext({
      playbook: pb,
      transport,
      peers: [
        { name: 'cache-1', facts, target: pb.target },
        { name: 'cache-2', facts, target: pb.target },
      ],
    });
    const plan = await build.plan(f.ctx, facts);
    expect(plan.status).toBe('changed');
    if (plan.status !== 'changed') return;
    expect(plan.detail).toMatch(
      /; ship it to cache-2 \(same platform: [^)]+\); transfer: exec stream \(no SFTP subsystem\)$/,
    );
    expect(plan.actions?.[0]).toMatchObject({
      kind: 'compile',
      transfer: 'exec-stream',
      text: expect.stringMatching(/, then ship it to cache-2; transfer: exec stream \(no SFTP subsystem\)$/),
    });
    expect(plan.decision.transfer).toBe('exec-stream');
    expect(transport.uploads).toEqual([]);
    expect(transport.downloads).toEqual([]);
  });

  it('a receiver without SFTP says so in its ship action', async () => {
    const pb = playbook({
      hosts: { 'cache-1': { address: '10.0.0.1' }, 'cache-2': { address: '10.0.0.2' } },
    });
    const facts = hostFacts();
    const f = taskContext({
      playbook: pb,
      host: 'cache-2',
      transport: new RecordingTransport({ hostName: 'cache-2', transfer: 'exec-stream' }),
      peers: [
        { name: 'cache-1', facts, target: pb.target },
        { name: 'cache-2', facts, target: pb.target },
      ],
    });
    const plan = await build.plan(f.ctx, facts);
    expect(plan.status === 'changed' && plan.actions).toEqual([
      {
        kind: 'ship',
        version: '1.6.38',
        from: 'cache-1',
        transfer: 'exec-stream',
        text: 'receive 1.6.38 built on cache-1 (same platform) into /opt/memcached/1.6.38; transfer: exec stream (no SFTP subsystem)',
      },
    ]);
    expect(plan.decision?.transfer).toBe('exec-stream');
  });

  it('a transfer probe that fails for another reason fails the plan, saying what it could not tell', async () => {
    const transport = new RecordingTransport({
      run: [answers(/command -v cc/, '\n')],
      transfer: new Error('(SSH) Channel open failure: open failed'),
    });
    const f = taskContext({ playbook: playbook(), transport });
    const failure = await build.plan(f.ctx, hostFacts()).catch((e) => e);
    expect(failure).toBeInstanceOf(TaskFailed);
    expect(failure.detail).toBe(
      'cannot tell how files would reach this host: (SSH) Channel open failure: open failed',
    );
  });

  describe('hosts without a compiler', () => {
    const hardened = hostFacts({
      platform: {
        arch: 'x86_64',
        libc: 'glibc 2.36',
        libevent: '2.1.12-stable',
        missingBuildTools: ['compiler', 'make'],
      },
    });
    const probeAnswer = answers(
      /memplay-probe/,
      'arch\tx86_64\nlibc\tglibc 2.36\nlibevent\t2.1.12-stable\nmissing-build-tools\t\n',
    );

    it('a host that must compile and cannot fails its plan with what it lacks and the options; nothing is asked of it', async () => {
      const f = taskContext({ playbook: playbook() });
      const failure = await build.plan(f.ctx, hardened).catch((e) => e);
      expect(failure).toBeInstanceOf(TaskFailed);
      expect(failure.detail).toBe(
        'this host must compile and cannot: no C compiler (cc or gcc), no make on the PATH of its ssh user; ' +
          'no host of its platform (x86_64, glibc 2.36, libevent 2.1.12-stable) in this batch can compile — ' +
          'set target.build_on to a host of the same platform that has a compiler (or controller), ' +
          'or target.prebuilt to a tarball of a built tree',
      );
      expect(f.transport.commands).toEqual([]);
    });

    it('build_on: controller — the controller’s platform is read once, read-only; the host plans a ship from it', async () => {
      const pb = playbook({ target: { source: { path: tarball, sha256 }, build_on: 'controller' } });
      const controller = new RecordingTransport({ hostName: 'controller', run: [probeAnswer] });
      let connections = 0;
      const buildHost = new BuildHostService(pb.target.buildOn!, async () => {
        connections += 1;
        return controller;
      });
      const f = taskContext({ playbook: pb, shared: { buildHost } });
      const plan = await build.plan(f.ctx, hardened);
      const words =
        '1.6.38 shipped from the controller (compiled there; same platform: x86_64, glibc 2.36, libevent 2.1.12-stable) into /opt/memcached/1.6.38';
      expect(plan).toMatchObject({
        status: 'changed',
        detail: words,
        actions: [{ kind: 'ship', version: '1.6.38', from: 'the controller', transfer: 'sftp', text: words }],
        decision: {
          role: {
            kind: 'shipped',
            from: { kind: 'build-host', label: 'the controller' },
            platform: 'x86_64, glibc 2.36, libevent 2.1.12-stable',
          },
          prune: [],
        },
      });
      await build.plan(f.ctx, hardened);
      expect(connections).toBe(1);
      expect(controller.commands).toHaveLength(1);
      expect(controller.uploads).toEqual([]);
      expect(f.transport.commands).toEqual([]);
    });

    it('a build host that cannot be reached fails the plan of every host that needs it, naming it', async () => {
      const pb = playbook({
        target: { source: { path: tarball, sha256 }, build_on: { address: 'build.example.com' } },
      });
      const buildHost = new BuildHostService(pb.target.buildOn!, async () => {
        throw new Error('connect ECONNREFUSED 10.0.0.9:22');
      });
      const f = taskContext({ playbook: pb, shared: { buildHost } });
      const failure = await build.plan(f.ctx, hostFacts()).catch((e) => e);
      expect(failure).toBeInstanceOf(TaskFailed);
      expect(failure.detail).toBe(
        "target.build_on's build host build.example.com cannot be reached: connect ECONNREFUSED 10.0.0.9:22",
      );
    });

    it('prebuilt: the tree is checked by sha256 on the controller (the source tarball is not needed), and -V is promised', async () => {
      const tree = join(dir, 'memcached-1.6.38-tree.tar.gz');
      const treeBytes = Buffer.from('a tree, as far as the plan can tell\n');
      await writeFile(tree, treeBytes);
      const treeSha = createHash('sha256').update(treeBytes).digest('hex');
      const pb = fixturePlaybook({
        target: {
          source: { path: join(dir, 'not-here.tar.gz'), sha256 },
          prebuilt: { file: tree, sha256: treeSha },
        },
      });
      const f = taskContext({ playbook: pb });
      const plan = await build.plan(f.ctx, hardened);
      const words = `1.6.38 from prebuilt tarball ${tree} (sha256 ${treeSha.slice(0, 12)}…, checked on the controller and here) into /opt/memcached/1.6.38; bin/memcached -V must print 1.6.38 here`;
      expect(plan).toMatchObject({
        status: 'changed',
        detail: words,
        actions: [{ kind: 'ship', from: 'prebuilt memcached-1.6.38-tree.tar.gz', text: words }],
      });
      expect(f.transport.commands).toEqual([]);

      const wrong = fixturePlaybook({
        target: { source: { path: tarball, sha256 }, prebuilt: { file: tree, sha256: '0'.repeat(64) } },
      });
      const failure = await build.plan(taskContext({ playbook: wrong }).ctx, hardened).catch((e) => e);
      expect(failure.detail).toBe(
        `sha256 of memcached-1.6.38-tree.tar.gz is ${treeSha}, playbook says ${'0'.repeat(64)} — check target.prebuilt.sha256`,
      );
    });
  });
});

describe('compile', () => {
  it('makes only the memcached target, counts its compiles, and installs only bin/memcached', async () => {
    const transport = new RecordingTransport({
      run: [
        answers(/make -n memcached /, '27\n'),
        answers(/grep -c/, '0\n'),
        answers(/ memplay-install /, 'step\tcheck the new binary\ninstalled\ncleaned\n'),
      ],
      otherwise: { code: 0, stdout: '', stderr: '' },
    });
    const f = taskContext({ playbook: playbook(), transport });
    await compile(f.ctx);
    // The install command removed the staging folder: no second rm after it.
    expect(transport.commands.at(-1)).toMatch(/ memplay-install /);
    const make = transport.commands
      .filter((c) => /&& make /.test(c))
      .map((c) => c.replace(/\/opt\/\S+/g, 'DIR'));
    expect(make).toEqual([
      `cd DIR && make -n memcached 2>/dev/null | grep -c -e ' -c -o '`,
      `cd DIR && make -j"$(nproc 2>/dev/null || echo 2)" memcached >>DIR 2>&1`,
      'cd DIR && make install-binPROGRAMS DESTDIR=DIR >>DIR 2>&1',
    ]);
  });
});
