import { createHash } from 'node:crypto';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseDocument } from 'yaml';
import { cachedBuild } from '../lab/build.js';
import { run } from '../lab/exec.js';
import { memcachedPid } from '../lab/host.js';
import {
  type Lab,
  memcachedVersion,
  resetHost,
  resetLab,
  snapshotHost,
  writeFleetPlaybook,
} from '../lab/index.js';
import { compareDigests, digestItems, generateItems, loopbackConnection } from '../lab/items/generator.js';
import { removeCompiler, restoreCompiler } from '../lab/no-compiler.js';
import { checkJsonLines } from './event-contract.js';
import { recapOf, runMemplay, taskEvents } from './memplay-cli.js';

// Hardened images carry no compiler: host2's ssh user has a PATH with every tool
// but cc, gcc and make. Its build comes from a build host (host3, outside this
// playbook's fleet), from the controller, or from a prebuilt tarball, and every
// item it holds is still there, exact, on 1.6.38.

const lab = inject('lab') as Lab;
const host = lab.hosts[1]!;
const buildHost = lab.hosts[2]!;
const port = host.memcachedPort;
// The architecture as `uname -m` prints it.
const platform = '[^,]+';

/** The lab playbook for host2 alone, with these `target` keys added. */
async function playbookWith(name: string, target: Record<string, unknown> = {}): Promise<string> {
  const base = await writeFleetPlaybook(lab, { hosts: [host.index] });
  const document = parseDocument(await readFile(base, 'utf8'));
  for (const [key, value] of Object.entries(target)) document.setIn(['target', key], value);
  const path = base.replace(/\.yml$/, `-${name}.yml`);
  await writeFile(path, document.toString());
  return path;
}

async function loadItems(seed: number) {
  await generateItems(loopbackConnection(port), { seed, count: 2_000, totalBytes: 2 * 1024 * 1024 });
  const digests = await digestItems(loopbackConnection(port));
  expect(digests.size).toBe(2_000);
  return digests;
}

/** Temporary build folders a build host's user left in /tmp (mktemp's memplay-build.*). */
async function buildFoldersOf(user: string): Promise<string[]> {
  const { stdout } = await run('id', ['-u', user]);
  const uid = Number(stdout.trim());
  const names = (await readdir('/tmp')).filter((name) => name.startsWith('memplay-build.'));
  const owned = await Promise.all(
    names.map(async (name) => ((await stat(join('/tmp', name))).uid === uid ? name : null)),
  );
  return owned.filter((name): name is string => name !== null);
}

function buildTask(runResult: Awaited<ReturnType<typeof runMemplay>>) {
  return taskEvents(runResult).find((t) => t.task === 'build' && t.host === host.name);
}

describe('hosts without a compiler (host2: no cc, gcc or make on its ssh user’s PATH)', () => {
  beforeAll(async () => {
    await resetLab(lab);
    await removeCompiler(host);
  }, 600_000);
  afterAll(async () => {
    await restoreCompiler(host);
    await resetLab(lab);
  }, 600_000);

  it('a host that must compile and cannot fails in --check and in apply, naming what it lacks and build_on / prebuilt, before anything stops', async () => {
    const before = await loadItems(61);
    const pid = await memcachedPid(host);
    const playbook = await playbookWith('must-compile');
    const lacks = new RegExp(
      `^this host must compile and cannot: no C compiler \\(cc or gcc\\), no make on the PATH of its ssh user; no host of its platform \\(${platform}, glibc [^,]+, libevent [^)]+\\) in this batch can compile — set target\\.build_on to a host of the same platform that has a compiler \\(or controller\\), or target\\.prebuilt to a tarball of a built tree$`,
    );

    const check = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(check.code, check.stdout + check.stderr).toBe(2);
    checkJsonLines(check.stdout);
    expect(buildTask(check)).toMatchObject({ status: 'failed' });
    expect(buildTask(check)?.detail).toMatch(lacks);

    const apply = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(2);
    expect(buildTask(apply)).toMatchObject({ status: 'failed' });
    expect(buildTask(apply)?.detail).toMatch(lacks);
    // Nothing after build ran: the old instance never stopped and holds every item.
    for (const task of ['backup', 'swap', 'restore', 'verify']) {
      expect(taskEvents(apply).find((t) => t.task === task)?.status, task).toBe('skipped');
    }
    expect(await memcachedPid(host)).toBe(pid);
    expect(await memcachedVersion(port)).toBe('1.6.18');
    expect(compareDigests(before, await digestItems(loopbackConnection(port)))).toEqual([]);
    expect(
      (await readdir(host.prefix)).filter((e) => e === '1.6.38' || e.startsWith('.memplay-build')),
    ).toEqual([]);
  }, 600_000);

  it('without build_on, the first host of the platform that can compile builds for one listed before it that cannot', async () => {
    await resetHost(lab, host.index);
    const before = await loadItems(66);
    const playbook = await writeFleetPlaybook(lab, { hosts: [host.index, buildHost.index] });

    const check = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(buildTask(check)?.detail).toMatch(
      new RegExp(
        `^ship 1\\.6\\.38 built on host3 \\(same platform: ${platform}, glibc [^,]+, libevent [^)]+\\) into `,
      ),
    );
    expect(taskEvents(check).find((t) => t.task === 'build' && t.host === buildHost.name)?.detail).toMatch(
      /; ship it to host2 \(same platform: /,
    );

    const apply = await runMemplay(['apply', playbook, '--output', 'json', '-v']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    const configures = apply.events.filter((e) => e.event === 'command' && /\.\/configure /.test(e.command));
    expect(configures.map((e) => (e.event === 'command' ? e.host : ''))).toEqual([buildHost.name]);
    expect(buildTask(apply)?.detail).toMatch(/^received 1\.6\.38 built on host3 in [\d.]+s/);
    expect(compareDigests(before, await digestItems(loopbackConnection(port)))).toEqual([]);
    await resetHost(lab, buildHost.index);
  }, 900_000);

  it('build_on a host outside the fleet (host3 by address): --check says where the build comes from; apply compiles there once, ships it, and every item is exact; host3 is not touched', async () => {
    await resetHost(lab, host.index);
    const before = await loadItems(62);
    const playbook = await playbookWith('build-host', {
      build_on: { address: '127.0.0.1', ssh: { port: buildHost.sshPort, user: buildHost.user } },
    });
    const buildHostBefore = await snapshotHost(lab, buildHost.index);

    const check = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    checkJsonLines(check.stdout);
    expect(buildTask(check)?.detail).toMatch(
      new RegExp(
        `^1\\.6\\.38 shipped from build host 127\\.0\\.0\\.1 \\(compiled there; same platform: ${platform}, glibc [^,]+, libevent [^)]+\\) into ${host.prefix}/1\\.6\\.38$`,
      ),
    );
    const summary = check.events.find((e) => e.event === 'plan-summary');
    expect(summary).toMatchObject({
      compile: [],
      ship: [{ host: host.name, from: 'build host 127.0.0.1', version: '1.6.38' }],
    });
    expect(await snapshotHost(lab, buildHost.index)).toEqual(buildHostBefore);

    const apply = await runMemplay(['apply', playbook, '--output', 'json', '-v']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(buildTask(apply)?.detail).toMatch(
      /^received 1\.6\.38 compiled on build host 127\.0\.0\.1 in [\d.]+s \(tar sha256 [0-9a-f]{12}… verified here\)$/,
    );
    // One configure, on the build host's connection; none on host2.
    const configures = apply.events.filter((e) => e.event === 'command' && /\.\/configure /.test(e.command));
    expect(configures.map((e) => (e.event === 'command' ? e.host : ''))).toEqual(['127.0.0.1']);
    expect(await memcachedVersion(port)).toBe('1.6.38');
    expect(compareDigests(before, await digestItems(loopbackConnection(port)))).toEqual([]);
    expect(recapOf(apply)[host.name]).toMatchObject({ failed: 0, changed: 4 });
    // The build host compiled in a folder it removed: its home, memcached and /tmp are as they were.
    expect(await snapshotHost(lab, buildHost.index)).toEqual(buildHostBefore);
    expect(await buildFoldersOf(buildHost.user)).toEqual([]);
  }, 900_000);

  it('build_on: controller compiles on the machine running memplay and ships it; every item is exact', async () => {
    await resetHost(lab, host.index);
    const before = await loadItems(63);
    const playbook = await playbookWith('controller', { build_on: 'controller' });

    const check = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(buildTask(check)?.detail).toMatch(
      new RegExp(
        `^1\\.6\\.38 shipped from the controller \\(compiled there; same platform: ${platform}, glibc [^,]+, libevent [^)]+\\) into ${host.prefix}/1\\.6\\.38$`,
      ),
    );

    const apply = await runMemplay(['apply', playbook, '--output', 'json', '-v']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(buildTask(apply)?.detail).toMatch(
      /^received 1\.6\.38 compiled on the controller in [\d.]+s \(tar sha256 [0-9a-f]{12}… verified here\)$/,
    );
    const configures = apply.events.filter((e) => e.event === 'command' && /\.\/configure /.test(e.command));
    expect(configures.map((e) => (e.event === 'command' ? e.host : ''))).toEqual(['controller']);
    expect(await memcachedVersion(port)).toBe('1.6.38');
    expect(compareDigests(before, await digestItems(loopbackConnection(port)))).toEqual([]);
  }, 900_000);

  it('prebuilt: a tarball of a lab build, pinned by sha256, is checked, shipped and run with -V; a tree of another version fails before anything stops', async () => {
    const tarball = join(lab.dir, 'memcached-1.6.38-prebuilt.tar.gz');
    const wrong = join(lab.dir, 'memcached-1.6.18-as-1.6.38.tar.gz');
    await run('tar', ['-C', await cachedBuild('1.6.38'), '-czf', tarball, '.']);
    await run('tar', ['-C', await cachedBuild('1.6.18'), '-czf', wrong, '.']);
    const sha256 = async (file: string) =>
      createHash('sha256')
        .update(await readFile(file))
        .digest('hex');

    // A tree that prints another version never counts: the host keeps serving.
    await resetHost(lab, host.index);
    const beforeWrong = await loadItems(64);
    const pid = await memcachedPid(host);
    const wrongRun = await runMemplay([
      'apply',
      await playbookWith('prebuilt-wrong', { prebuilt: { file: wrong, sha256: await sha256(wrong) } }),
      '--output',
      'json',
    ]);
    expect(wrongRun.code, wrongRun.stdout + wrongRun.stderr).toBe(2);
    expect(buildTask(wrongRun)?.detail).toBe(
      'check the new binary failed: bin/memcached -V printed "memcached 1.6.18", not "memcached 1.6.38"',
    );
    expect(await memcachedPid(host)).toBe(pid);
    expect(compareDigests(beforeWrong, await digestItems(loopbackConnection(port)))).toEqual([]);
    expect((await readdir(host.prefix)).filter((e) => e === '1.6.38' || e.startsWith('.memplay-'))).toEqual(
      [],
    );

    await resetHost(lab, host.index);
    const before = await loadItems(65);
    const digest = await sha256(tarball);
    const playbook = await playbookWith('prebuilt', { prebuilt: { file: tarball, sha256: digest } });
    const check = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(buildTask(check)?.detail).toBe(
      `1.6.38 from prebuilt tarball ${tarball} (sha256 ${digest.slice(0, 12)}…, checked on the controller and here) into ${host.prefix}/1.6.38; bin/memcached -V must print 1.6.38 here`,
    );

    const apply = await runMemplay(['apply', playbook, '--output', 'json', '-v']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(buildTask(apply)?.detail).toMatch(
      new RegExp(
        `^installed 1\\.6\\.38 from prebuilt tarball ${tarball.replaceAll('.', '\\.')} in [\\d.]+s \\(sha256 ${digest.slice(0, 12)}… verified here, bin/memcached -V 1\\.6\\.38\\)$`,
      ),
    );
    expect(apply.events.filter((e) => e.event === 'command' && /\.\/configure /.test(e.command))).toEqual([]);
    const verified = apply.events.filter(
      (e) => e.event === 'command' && e.host === host.name && /sha256sum -c/.test(e.command),
    );
    expect(verified.map((e) => (e.event === 'command' ? e.code : -1))).toEqual([0]);
    expect(await memcachedVersion(port)).toBe('1.6.38');
    expect(compareDigests(before, await digestItems(loopbackConnection(port)))).toEqual([]);
    await rm(tarball, { force: true });
    await rm(wrong, { force: true });
  }, 900_000);
});
