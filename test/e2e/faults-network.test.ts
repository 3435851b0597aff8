import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import type { RunEvent } from '../../src/report/events.js';
import { ensureBuild, type Lab, memcachedVersion, resetLab, writeFleetPlaybook } from '../lab/index.js';
import { compareDigests, digestItems, generateItems, loopbackConnection } from '../lab/items/generator.js';
import { ensureSshd, stopSshd } from '../lab/sshd.js';
import { type MemplayRun, recapOf, runMemplay, spawnMemplay, taskEvents } from './memplay-cli.js';

// The network and the controller's disk failing under memplay: an ssh
// connection cut in each phase, a host whose sshd goes away between batches, a
// backup folder that fills up or cannot exist. Each run must leave every host
// serving with all the items it had, at once or after the plain re-run its
// message asks for.

const lab = inject('lab') as Lab;
const direct = loopbackConnection;
const host = (i: number) => lab.hosts[i - 1]!;
type TaskEvent = Extract<RunEvent, { event: 'task' }>;

function listenerPid(i: number): number | null {
  try {
    return Number(readFileSync(join(host(i).sshdDir, 'sshd.pid'), 'utf8').trim()) || null;
  } catch {
    return null;
  }
}

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

/**
 * The per-connection sshd processes (`sshd: mplab21 [priv]`, `sshd: mplab21@notty`)
 * under this lab's listener for host i: found by pid, never by name alone, since
 * other checkouts run labs of their own.
 */
function sessionPids(i: number): number[] {
  const root = listenerPid(i);
  if (root === null) return [];
  const title = new RegExp(`^sshd: ${host(i).user}(?:[ @]|$)`);
  const descends = (pid: number) => {
    for (let p: number | null = parentOf(pid); p !== null && p > 1; p = parentOf(p))
      if (p === root) return true;
    return false;
  };
  return readdirSync('/proc')
    .filter((name) => /^[0-9]+$/.test(name))
    .map(Number)
    .filter((pid) => {
      try {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
        return title.test(cmdline) && descends(pid);
      } catch {
        return false;
      }
    });
}

/** Cuts memplay's ssh connection to host i: its sshd session processes die, the listener stays. */
function cutSsh(i: number): number {
  const pids = sessionPids(i);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone with its parent.
    }
  }
  return pids.length;
}

/** apply -v (for progress events); `cut` runs on every event until it returns true. */
async function applyCut(
  playbook: string,
  cut: (event: RunEvent) => boolean,
): Promise<MemplayRun & { cut: boolean }> {
  let done = false;
  const live = spawnMemplay(['apply', playbook, '-v'], (event) => {
    if (!done) done = cut(event);
  });
  const code = await live.exited;
  return { code, stdout: '', stderr: '', events: live.events, cut: done };
}

const taskOf = (run: MemplayRun, name: string, hostName = 'host1') =>
  taskEvents(run).find((t) => t.task === name && t.host === hostName) as TaskEvent | undefined;

async function seeded(i: number, seed: number, count = 20_000, megabytes = 24) {
  await generateItems(direct(host(i).memcachedPort), { seed, count, totalBytes: megabytes * 1024 * 1024 });
  return digestItems(direct(host(i).memcachedPort));
}

async function expectServing(i: number, version: string, items: Awaited<ReturnType<typeof seeded>>) {
  expect(await memcachedVersion(host(i).memcachedPort), `host${i} version`).toBe(version);
  expect(compareDigests(items, await digestItems(direct(host(i).memcachedPort))), `host${i} items`).toEqual(
    [],
  );
}

async function partialBackups(dir: string): Promise<string[]> {
  const hostDir = join(dir, 'host1');
  if (!existsSync(hostDir)) return [];
  return (await readdir(hostDir)).filter((name) => name.endsWith('.partial'));
}

async function rerunSucceeds(playbook: string): Promise<MemplayRun> {
  const rerun = await runMemplay(['apply', playbook, '--output', 'json']);
  expect(rerun.code, rerun.stdout + rerun.stderr).toBe(0);
  return rerun;
}

const backups = () => join(lab.dir, 'backups');

describe('ssh connection cut', () => {
  afterEach(async () => {
    for (const h of lab.hosts) await ensureSshd(h);
  });

  it('during build: exit 3, the message says host1 lost its connection and to re-run; 1.6.18 serves every item; the re-run upgrades', async () => {
    await resetLab(lab);
    const original = await seeded(1, 61);
    const playbook = await writeFleetPlaybook(lab, { hosts: [1] });
    const run = await applyCut(
      playbook,
      (e) =>
        e.event === 'progress' &&
        e.task === 'build' &&
        e.host === 'host1' &&
        e.message === 'configure' &&
        cutSsh(1) > 0,
    );
    expect(run.cut).toBe(true);
    expect(run.code).toBe(3);
    const build = taskOf(run, 'build');
    expect(build?.status).toBe('failed');
    expect(build?.detail).toBe(
      `the ssh connection to host1 was lost during build: nothing was stopped, 1.6.18 keeps serving on port ${host(1).memcachedPort}; the unfinished build is cleared by the next one. Re-run memplay apply once ssh to host1 works again: it carries on from build`,
    );
    expect(recapOf(run).host1).toMatchObject({ unreachable: true, failed: 1 });
    await expectServing(1, '1.6.18', original);

    // A real compile, on a machine other test runs share.
    await rerunSucceeds(playbook);
    await expectServing(1, '1.6.38', original);
  }, 900_000);

  it('during the backup full pass: exit 3, nothing stopped, no partial file; 1.6.18 serves every item; the re-run upgrades', async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
    await ensureBuild(host(1), '1.6.38');
    const original = await seeded(1, 62, 60_000, 90);
    // A SIGKILLed run elsewhere may have left one: only this run's would be a fault here.
    const before = await partialBackups(backups());
    const playbook = await writeFleetPlaybook(lab, { hosts: [1] });
    const run = await applyCut(
      playbook,
      (e) =>
        e.event === 'progress' && e.task === 'backup' && e.message.startsWith('full pass') && cutSsh(1) > 0,
    );
    expect(run.cut).toBe(true);
    expect(run.code).toBe(3);
    const backup = taskOf(run, 'backup');
    expect(backup?.status).toBe('failed');
    expect(backup?.detail).toBe(
      `the ssh connection to host1 was lost during backup: nothing was stopped, 1.6.18 keeps serving on port ${host(1).memcachedPort}; the unfinished backup file is removed. Re-run memplay apply once ssh to host1 works again: it carries on from backup`,
    );
    expect(
      taskEvents(run)
        .filter((t) => t.task === 'swap' || t.task === 'rollback')
        .map((t) => t.status),
    ).toEqual(['skipped']);
    expect(await partialBackups(backups())).toEqual(before);
    await expectServing(1, '1.6.18', original);

    await rerunSucceeds(playbook);
    await expectServing(1, '1.6.38', original);
  });

  it('during restore: exit 3, the message names 1.6.38, the backup file and the re-run; the re-run restores every item', async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
    await ensureBuild(host(1), '1.6.38');
    const original = await seeded(1, 63, 60_000, 90);
    const playbook = await writeFleetPlaybook(lab, { hosts: [1] });
    const run = await applyCut(
      playbook,
      (e) =>
        e.event === 'progress' && e.task === 'restore' && e.message.startsWith('restore') && cutSsh(1) > 0,
    );
    expect(run.cut).toBe(true);
    expect(run.code).toBe(3);
    const restore = taskOf(run, 'restore');
    expect(restore?.status).toBe('failed');
    expect(restore?.detail).toMatch(
      /^the ssh connection to host1 was lost during restore: host1 already runs 1\.6\.38, and its items are in (\S+\.mpbak), not yet all restored\. Re-run memplay apply once ssh to host1 works again: it finds that backup unrestored and restores it into 1\.6\.38 \(add mode: what clients wrote since is kept\), then verifies$/,
    );
    const backupFile = restore?.detail.match(/items are in (\S+\.mpbak)/)?.[1];
    expect(backupFile && existsSync(backupFile)).toBe(true);
    // A rollback over the dead connection could only break off: none is tried.
    expect(taskOf(run, 'rollback')).toBeUndefined();
    expect(await memcachedVersion(host(1).memcachedPort)).toBe('1.6.38');

    const rerun = await rerunSucceeds(playbook);
    expect(taskOf(rerun, 'backup')?.detail).toContain(`reuse ${backupFile} `);
    expect(taskOf(rerun, 'restore')?.status).toBe('changed');
    await expectServing(1, '1.6.38', original);
  });
});

describe('a host unreachable mid-batch', () => {
  beforeEach(async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
    for (const i of [1, 2, 3]) await ensureBuild(host(i), '1.6.38');
  });
  afterEach(async () => {
    for (const h of lab.hosts) await ensureSshd(h);
  });

  it("host2's sshd stops after host1 is done (serial 1): host1 upgraded, host2 untouched on 1.6.18, host3 not started, exit 3", async () => {
    const items = [await seeded(1, 64), await seeded(2, 65), await seeded(3, 66)];
    const playbook = await writeFleetPlaybook(lab, { serial: 1 });
    let stopping: Promise<void> | undefined;
    const run = await applyCut(playbook, (e) => {
      if (!(e.event === 'task' && e.host === 'host1' && e.task === 'verify')) return false;
      cutSsh(2);
      stopping = stopSshd(host(2));
      return true;
    });
    await stopping;
    expect(run.code).toBe(3);
    expect(taskEvents(run).filter((t) => t.host === 'host1' && t.status === 'failed')).toEqual([]);
    const backup2 = taskOf(run, 'backup', 'host2');
    expect(backup2?.status).toBe('failed');
    expect(backup2?.detail).toBe(
      `the ssh connection to host2 was lost during backup: nothing was stopped, 1.6.18 keeps serving on port ${host(2).memcachedPort}; the unfinished backup file is removed. Re-run memplay apply once ssh to host2 works again: it carries on from backup`,
    );
    const host3 = taskEvents(run).filter(
      (t) => t.host === 'host3' && t.task !== 'version_check' && t.task !== 'build',
    );
    expect(host3.map((t) => t.detail)).toEqual(Array(4).fill('not started: max_fail_percentage exceeded'));
    expect(run.events.find((e) => e.event === 'aborted')).toMatchObject({
      reason: '1 of 3 hosts failed, above max_fail_percentage 0%; no further batch starts',
    });
    expect(recapOf(run)).toMatchObject({
      host2: { unreachable: true },
      host3: { unreachable: false, failed: 0 },
    });
    await expectServing(1, '1.6.38', items[0]!);
    await expectServing(2, '1.6.18', items[1]!);
    await expectServing(3, '1.6.18', items[2]!);
  });
});

describe("the controller's backup folder", () => {
  const mount = join(lab.dir, 'full-backups');
  afterEach(() => {
    try {
      execFileSync('umount', [mount]);
    } catch {
      // Not mounted: the test failed before it mounted.
    }
  });

  it('full (a 1 MB tmpfs): the backup fails with ENOSPC, the folder and what to do; nothing stopped, no partial file, exit 2', async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
    await ensureBuild(host(1), '1.6.38');
    const original = await seeded(1, 67, 4_000, 4);
    await mkdir(mount, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', mount]);
    const playbook = await writeFleetPlaybook(lab, { hosts: [1], backupDir: mount });
    const run = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(2);
    const backup = taskOf(run, 'backup');
    expect(backup?.status).toBe('failed');
    expect(backup?.detail).toMatch(
      new RegExp(
        `^cannot write the backup to ${mount}/host1: no space left on its device \\(ENOSPC\\) after [\\d.]+ (?:B|KiB|MiB); free space in ${mount}/host1 \\(a backup needs about as much as the cache holds\\), or set backup\\.dir to a folder with room — the old instance keeps serving, nothing was stopped$`,
      ),
    );
    expect(
      taskEvents(run)
        .filter((t) => t.task === 'swap')
        .map((t) => t.status),
    ).toEqual(['skipped']);
    expect(await partialBackups(mount)).toEqual([]);
    await expectServing(1, '1.6.18', original);
  });

  it('unwritable (its parent is a file): refused before any host is contacted', async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
    const original = await seeded(1, 68, 2_000, 2);
    const file = join(lab.dir, 'not-a-folder');
    await rm(file, { recursive: true, force: true });
    await writeFile(file, 'a regular file\n');
    const playbook = await writeFleetPlaybook(lab, { hosts: [1], backupDir: join(file, 'backups') });
    const pid = readFileSync(host(1).pidfile, 'utf8');
    const run = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(4);
    // With --output json the refusal is one error event on stdout, and the text on stderr.
    expect(run.events).toEqual([
      expect.objectContaining({
        event: 'error',
        kind: 'playbook',
        exit_code: 4,
        diagnostics: [expect.objectContaining({ file: playbook })],
      }),
    ]);
    expect(run.stderr).toMatch(
      new RegExp(
        `^${playbook}:\\d+:\\d+: backup\\.dir: cannot write backups to ${file}/backups: ${file} is a file, not a folder \\(ENOTDIR\\); set backup\\.dir to a folder memplay can create or write\nnothing was run`,
      ),
    );
    expect(readFileSync(host(1).pidfile, 'utf8')).toBe(pid);
    await expectServing(1, '1.6.18', original);
  });
});
