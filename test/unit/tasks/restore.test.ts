import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TaskFailed } from '../../../src/errors.js';
import { restore } from '../../../src/tasks/restore.js';
import { RecordingTransport } from '../../support/recording-transport.js';
import { fixturePlaybook, hostFacts, taskContext } from '../../support/task-context.js';
import { writeBackupFile } from './backup-file.js';

// restore's plan reads backup files on the controller (checksums, header) and
// what earlier tasks planned in the run; only to find a backup an interrupted run
// left does it ask memcached for `stats`. It runs no shell command.

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memplay-restore-fixture-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const onTarget = () => hostFacts({ runningVersion: '1.6.38', currentLink: '1.6.38' });

function backupOf(host: string, metadata?: Record<string, unknown>) {
  return writeBackupFile({
    dir,
    host,
    memcachedVersion: '1.6.18',
    serverTime: 1_795_000_000,
    values: ['one', 'two', 'three'],
    ...(metadata ? { metadata } : {}),
  });
}

describe('restore plan: memplay restore --from', () => {
  it('a backup file: one restore action with its items and value bytes, into the running version', async () => {
    const file = await backupOf('cache-1');
    const f = taskContext({ job: { kind: 'restore', from: file.path } });
    const plan = await restore.plan(f.ctx, onTarget());
    expect(plan.status).toBe('changed');
    expect(plan.status === 'changed' && plan.actions).toEqual([
      {
        kind: 'restore',
        items: 3,
        bytes: 11,
        version: '1.6.38',
        text: `restore 3 items / 11 B from ${file.path} into 1.6.38 (add mode)`,
      },
    ]);
    expect(plan.detail).toMatch(
      new RegExp(
        `^restore up to 3 items / 11 B from ${file.path}, taken .* on 1\\.6\\.18, into 1\\.6\\.38 \\(add mode: newer values are kept\\)$`,
      ),
    );
    expect(f.transport.commands).toEqual([]);
    expect(f.transport.tcp).toEqual([]);
    expect(plan.decision).toMatchObject({
      kind: 'file',
      file: { path: file.path, items: 3, valueBytes: 11 },
    });
    expect(f.runWrites()).toEqual([]);
  });

  it('a backup folder: the host’s newest file, and whose backup it was when another host’s', async () => {
    await backupOf('cache-1');
    const f = taskContext({ job: { kind: 'restore', from: dir } });
    const plan = await restore.plan(f.ctx, onTarget());
    expect(plan.detail).toContain(`from ${dir}/cache-1/`);
    expect(plan.detail).not.toContain('backed up from');

    const other = await backupOf('cache-9');
    const g = taskContext({ job: { kind: 'restore', from: other.path } });
    expect((await restore.plan(g.ctx, onTarget())).detail).toContain('(backed up from cache-9)');
  });

  it('nothing running: fails, start memcached first', async () => {
    const file = await backupOf('cache-1');
    const f = taskContext({ job: { kind: 'restore', from: file.path } });
    const failure = await restore.plan(f.ctx, hostFacts({ runningVersion: null })).catch((e) => e);
    expect(failure).toBeInstanceOf(TaskFailed);
    expect(failure.detail).toBe('nothing answers on port 11211: start memcached first');
  });

  it('a file that fails its checks is refused before anything is written', async () => {
    const bad = join(dir, 'broken.mpbak');
    await writeFile(bad, 'not a backup');
    const f = taskContext({ job: { kind: 'restore', from: bad } });
    const failure = await restore.plan(f.ctx, onTarget()).catch((e) => e);
    expect(failure).toBeInstanceOf(TaskFailed);
    expect(failure.detail).toMatch(new RegExp(`^refusing ${bad}: .* — nothing was written to the host$`));
  });

  it('a folder without a backup of the host fails and says what --from takes', async () => {
    const f = taskContext({ job: { kind: 'restore', from: dir } });
    const failure = await restore.plan(f.ctx, onTarget()).catch((e) => e);
    expect(failure).toBeInstanceOf(TaskFailed);
    expect(failure.detail).toContain(`backup for cache-1 in ${dir}/cache-1 — pass --from a backup file`);
  });
});

describe('restore plan: in an upgrade', () => {
  it('after a backup planned in this run: a planned restore, its size marked ~', async () => {
    const f = taskContext({
      playbook: fixturePlaybook({ backup: { dir } }),
      run: {
        plannedBackup: { items: 12_345, bytes: 5 * 1024 * 1024 },
        swapChoice: { path: 'cold', reason: 'swap.mode: cold' },
      },
    });
    const plan = await restore.plan(f.ctx, onTarget());
    expect(plan.status).toBe('changed');
    expect(plan.status === 'changed' && plan.actions).toEqual([
      {
        kind: 'restore',
        items: 12_345,
        bytes: 5 * 1024 * 1024,
        version: '1.6.38',
        text: 'restore ~12,345 items / ~5.0 MiB from the backup taken before the swap into 1.6.38 (add mode)',
      },
    ]);
    expect(f.runWrites()).toEqual([]);
    expect(plan.detail).toBe(
      'restore the backup taken before the swap (~12,345 items / 5.0 MiB) into 1.6.38',
    );
    expect(f.transport.commands).toEqual([]);
    expect(f.transport.tcp).toEqual([]);
  });

  it('a warm restart that resumed the cache: ok, nothing to restore', async () => {
    const f = taskContext({ run: { warmResumed: { items: 9_000, proof: '1000 sampled items' } } });
    const plan = await restore.plan(f.ctx, onTarget());
    expect(plan).toMatchObject({
      status: 'ok',
      detail: 'warm: 9,000 items resumed, proven by 1000 sampled items: nothing to restore',
    });
    expect(f.runWrites()).toEqual([]);
    expect(f.transport.tcp).toEqual([]);
  });

  it('a warm restart planned: ok, with the size restored should the proof fall short', async () => {
    const f = taskContext({
      run: {
        plannedBackup: { items: 10, bytes: 2048 },
        swapChoice: { path: 'warm', reason: 'memory file unchanged', memoryFile: '/dev/shm/m' },
      },
    });
    const plan = await restore.plan(f.ctx, onTarget());
    expect(plan.status).toBe('ok');
    expect(plan.detail).toBe(
      'warm restart planned: nothing to restore once the proof passes; otherwise restore the backup (~10 items / 2.0 KiB) into 1.6.38',
    );
  });

  it('a sealed backup file of this run: restore exactly its items', async () => {
    const f = taskContext({
      run: { backupFile: { path: '/b/cache-1/x.mpbak', items: 7, valueBytes: 70, deltaMs: 3, summary: 's' } },
    });
    const plan = await restore.plan(f.ctx, onTarget());
    expect(plan.status === 'changed' && plan.actions?.[0]).toMatchObject({
      kind: 'restore',
      items: 7,
      bytes: 70,
    });
  });

  it('no backup in the run and none left over: ok, after asking the target for its start time', async () => {
    const transport = new RecordingTransport({
      tcp: { 11211: { version: '1.6.38', stats: { time: 1_795_000_600, uptime: 30 } } },
    });
    const f = taskContext({ playbook: fixturePlaybook({ backup: { dir } }), transport });
    const plan = await restore.plan(f.ctx, onTarget());
    expect(plan).toMatchObject({ status: 'ok', detail: 'no backup taken in this run: nothing to restore' });
    expect(transport.memcachedRequests).toEqual(['stats']);
    expect(transport.commands).toEqual([]);
  });

  it('a backup an interrupted upgrade took and never restored: restored into the target that started after it', async () => {
    const leftover = await backupOf('cache-1', { purpose: 'upgrade', target: '1.6.38' });
    const transport = new RecordingTransport({
      tcp: { 11211: { version: '1.6.38', stats: { time: 1_795_000_600, uptime: 30 } } },
    });
    const f = taskContext({ playbook: fixturePlaybook({ backup: { dir } }), transport });
    const plan = await restore.plan(f.ctx, onTarget());
    expect(plan.status === 'changed' && plan.actions).toEqual([
      expect.objectContaining({ kind: 'restore', items: 3, bytes: 11, version: '1.6.38' }),
    ]);
    expect(plan.detail).toContain(
      `that an interrupted run backed up from 1.6.18 and never restored: ${leftover.path}`,
    );
  });
});
