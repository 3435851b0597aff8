import { mkdir, mkdtemp, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createBackupWriter } from '../../src/memcached/backup-writer.js';
import { writeFenceRecord } from '../../src/memcached/old-side-fence.js';
import type { BackupRetention } from '../../src/playbook/types.js';
import { backupsEvent, formatBackupsTable } from '../../src/report/backups-view.js';
import { backupsPrunedLine } from '../../src/report/plain.js';
import { formatRecap } from '../../src/report/recap.js';
import type { CatalogedBackup } from '../../src/tasks/backup-catalog.js';
import { planBackupPrune, removePrunedBackups } from '../../src/tasks/backup-prune.js';
import { applyRetention, type RetentionContext } from '../../src/tasks/backup-retention.js';
import { markRestored } from '../../src/tasks/restore-marker.js';

const hour = 3600 * 1000;
const day = 24 * hour;
const now = Date.parse('2026-12-01T12:00:00Z');
const days = (n: number) => ({ text: `${n}d`, seconds: (n * day) / 1000 });

/** A catalogued backup `ageMs` old; restored unless said otherwise. */
function backup(
  name: string,
  ageMs: number,
  options: { purpose?: string; restored?: boolean; problem?: string } = {},
): CatalogedBackup {
  const path = `/b/host1/${name}.mpbak`;
  if (options.problem)
    return {
      file: `${name}.mpbak`,
      path,
      bytes: 10,
      sidecars: [],
      restored: false,
      problem: options.problem,
    };
  return {
    file: `${name}.mpbak`,
    path,
    bytes: 1000,
    sidecars: [],
    restored: options.restored ?? true,
    backup: {
      createdAtMs: now - ageMs,
      memcachedVersion: '1.6.18',
      purpose: options.purpose ?? 'upgrade',
      target: '1.6.38',
      items: 5,
      valueBytes: 500,
    },
  };
}

const idle: RetentionContext = { nowMs: now, inUse: new Set(), upcoming: false };

/** The names `keep` removes from these backups (given newest first). */
function pruned(
  backups: CatalogedBackup[],
  keep: BackupRetention,
  context: RetentionContext = idle,
): string[] {
  return applyRetention(backups, keep, context)
    .filter((b) => !b.retention.keep)
    .map((b) => b.file.replace('.mpbak', ''));
}

describe('backup.keep: which backups of a host go', () => {
  const five = ['e', 'd', 'c', 'b', 'a'].map((name, i) => backup(name, (i + 1) * day));

  it('count: the newest N stay, every older one goes, with the reason', () => {
    expect(pruned(five, { count: 3 })).toEqual(['b', 'a']);
    expect(pruned(five, { count: 1 })).toEqual(['d', 'c', 'b', 'a']);
    expect(pruned(five, { count: 5 })).toEqual([]);
    const reasons = applyRetention(five, { count: 3 }, idle).map((b) => b.retention);
    expect(reasons[0]).toEqual({ keep: true, reason: 'among the newest 3' });
    expect(reasons[4]).toEqual({ keep: false, reason: 'beyond the newest 3' });
  });

  it('max_age: what is older goes, however few there are', () => {
    expect(pruned(five, { maxAge: days(3) })).toEqual(['b', 'a']);
    expect(pruned(five.slice(3), { maxAge: days(3) })).toEqual(['b', 'a']);
    expect(pruned([backup('x', 2 * hour)], { maxAge: { text: '1h', seconds: 3600 } })).toEqual(['x']);
    expect(applyRetention(five, { maxAge: days(3) }, idle)[4]?.retention.reason).toBe('older than 3d');
  });

  it('both: a backup stays only when it is among the newest N and younger than max_age', () => {
    expect(pruned(five, { count: 4, maxAge: days(2) })).toEqual(['c', 'b', 'a']);
    expect(pruned(five, { count: 2, maxAge: days(30) })).toEqual(['c', 'b', 'a']);
  });

  it("never the run's own backup, even when it is the oldest and count is 1", () => {
    const inUse: RetentionContext = { ...idle, inUse: new Set([five[4]?.path as string]) };
    expect(pruned(five, { count: 1, maxAge: days(1) }, inUse)).toEqual(['d', 'c', 'b']);
    expect(applyRetention(five, { count: 1 }, inUse)[4]?.retention).toEqual({
      keep: true,
      reason: "this run's backup",
    });
  });

  it('never an upgrade or rollback backup that was not restored: a re-run or memplay restore needs it', () => {
    const backups = [
      backup('new', 1 * day),
      backup('upgrade-unrestored', 10 * day, { restored: false }),
      backup('rollback-unrestored', 11 * day, { purpose: 'rollback', restored: false }),
      backup('upgrade-restored', 12 * day),
      // A `memplay backup` dump is never restored by memplay: it is not waiting for anything.
      backup('dump', 13 * day, { purpose: 'backup', restored: false }),
    ];
    expect(pruned(backups, { count: 1 })).toEqual(['upgrade-restored', 'dump']);
    expect(pruned(backups, { maxAge: days(7) })).toEqual(['upgrade-restored', 'dump']);
    // They still take their place in the count: two unrestored ones leave room for one more.
    expect(pruned(backups, { count: 3 })).toEqual(['upgrade-restored', 'dump']);
    expect(pruned(backups, { count: 4 })).toEqual(['dump']);
  });

  it('a file memplay cannot read as a backup of this host is never removed, and takes no place in the count', () => {
    const backups = [
      backup('e', 1 * day),
      backup('d', 2 * day),
      backup('foreign', 0, { problem: 'a backup of host2, not host1' }),
    ];
    expect(pruned(backups, { count: 1 })).toEqual(['d']);
    expect(pruned(backups, { count: 2 })).toEqual([]);
    expect(applyRetention(backups, { count: 1 }, idle)[2]?.retention).toEqual({
      keep: true,
      reason: "not a backup memplay reads as this host's (a backup of host2, not host1): never removed",
    });
  });

  it('--check counts the backup the run would take as the newest', () => {
    const upcoming: RetentionContext = { ...idle, upcoming: true };
    expect(pruned(five, { count: 3 }, upcoming)).toEqual(['c', 'b', 'a']);
    expect(applyRetention(five, { count: 3 }, upcoming)[2]?.retention.reason).toBe(
      'beyond the newest 3, counting the one this run takes',
    );
  });
});

const serverTime = 1_800_000_000;

async function writeBackup(dir: string, createdAt: Date, metadata: Record<string, unknown>): Promise<string> {
  const writer = await createBackupWriter({
    dir,
    host: 'host1',
    memcachedVersion: '1.6.18',
    serverTime,
    createdAt,
  });
  await writer.writeItem({
    key: Buffer.from('k'),
    value: Buffer.alloc(2000, 1),
    flags: 0,
    exptime: 0,
    cas: 1,
  });
  return (await writer.finish(metadata)).path;
}

describe('pruning a backup folder on disk', () => {
  it('removes the backups beyond keep with their sidecars, and nothing else', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memplay-prune-'));
    const upgrade = { purpose: 'upgrade', target: '1.6.38' };
    const at = (hours: number) => new Date(now - hours * hour);
    const oldest = await writeBackup(dir, at(50), upgrade);
    const old = await writeBackup(dir, at(40), upgrade);
    const unrestored = await writeBackup(dir, at(30), upgrade);
    const kept = await writeBackup(dir, at(20), upgrade);
    const current = await writeBackup(dir, at(10), upgrade);
    for (const path of [oldest, old, kept, current]) await markRestored(path, { stored: 1 });
    await writeFenceRecord(old, { state: 'complete', excluded: [], unknown: 0 });
    await writeFenceRecord(kept, { state: 'complete', excluded: [], unknown: 0 });
    const folder = join(dir, 'host1');
    // Not memplay's, or not finished: never touched.
    await writeFile(join(folder, 'notes.txt'), 'mine');
    await writeFile(join(folder, 'copied-by-hand.mpbak'), 'not a backup');
    await writeFile(join(folder, '.20261201T000000Z-1.6.18.mpbak.partial'), 'being written');
    // A sidecar whose backup a cut-short prune already removed.
    await writeFile(join(folder, '20261101T000000Z-1.6.18.mpbak.restored'), '{}\n');
    const before = new Set(await readdir(folder));
    const sizeOf = async (path: string) => (await stat(path)).size;
    const oldestBytes = (await sizeOf(oldest)) + (await sizeOf(`${oldest}.restored`));
    const oldBytes =
      (await sizeOf(old)) + (await sizeOf(`${old}.restored`)) + (await sizeOf(`${old}.fence.json`));

    const plan = await planBackupPrune(dir, 'host1', { count: 2 }, { ...idle, inUse: new Set([current]) });
    expect(plan.prune.map((p) => [p.file, p.reason])).toEqual([
      [old.slice(folder.length + 1), 'beyond the newest 2'],
      [oldest.slice(folder.length + 1), 'beyond the newest 2'],
      ['20261101T000000Z-1.6.18.mpbak.restored', 'a sidecar whose backup was removed before'],
    ]);
    // current, kept, unrestored and the unreadable copy stay.
    expect(plan.kept).toBe(4);
    // Planning removes nothing (what --check runs).
    expect(new Set(await readdir(folder))).toEqual(before);

    const result = await removePrunedBackups(plan);
    expect(result.problems).toEqual([]);
    expect(result.freedBytes).toBe(oldBytes + oldestBytes + 3);
    const left = new Set(await readdir(folder));
    const name = (path: string) => path.slice(folder.length + 1);
    const removed = [...before].filter((file) => !left.has(file)).sort();
    expect(removed).toEqual(
      [
        name(old),
        `${name(old)}.fence.json`,
        `${name(old)}.restored`,
        name(oldest),
        `${name(oldest)}.restored`,
        '20261101T000000Z-1.6.18.mpbak.restored',
      ].sort(),
    );
    // The kept backups keep their sidecars.
    for (const file of [`${name(kept)}.fence.json`, `${name(kept)}.restored`, name(unrestored)])
      expect(left.has(file), file).toBe(true);
  });

  it('a backup that cannot be removed keeps its sidecars: its .restored marker never goes without it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memplay-prune-'));
    // unlink(2) refuses a folder, whoever runs the test (root included).
    const stuck = join(dir, 'stuck.mpbak');
    await mkdir(stuck);
    await writeFile(`${stuck}.restored`, '{}\n');
    const result = await removePrunedBackups({
      folder: dir,
      kept: 0,
      prune: [
        {
          file: 'stuck.mpbak',
          createdAtMs: now,
          files: [
            { path: stuck, bytes: 100 },
            { path: `${stuck}.restored`, bytes: 3 },
          ],
          reason: 'beyond the newest 1',
        },
      ],
    });
    expect(result.removed).toEqual([]);
    expect(result.freedBytes).toBe(0);
    expect(result.problems).toEqual([expect.stringMatching(/^cannot remove .*stuck\.mpbak: /)]);
    expect((await readdir(dir)).sort()).toEqual(['stuck.mpbak', 'stuck.mpbak.restored']);
  });

  it('a folder that does not exist holds nothing to prune', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memplay-prune-'));
    expect(await planBackupPrune(dir, 'host9', { count: 1 }, idle)).toEqual({
      folder: join(dir, 'host9'),
      kept: 0,
      prune: [],
    });
  });

  it('memplay backups lists each file with its version, items, size, restored and what keep does with it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memplay-list-'));
    const older = await writeBackup(dir, new Date(now - 2 * day), { purpose: 'backup', target: '1.6.38' });
    const newer = await writeBackup(dir, new Date(now - day), { purpose: 'upgrade', target: '1.6.38' });
    await mkdir(join(dir, 'host1'), { recursive: true });
    const { catalogHostBackups } = await import('../../src/tasks/backup-catalog.js');
    const { folder, backups } = await catalogHostBackups(dir, 'host1');
    const listing = {
      host: 'host1',
      folder,
      keep: { count: 1 },
      backups: applyRetention(backups, { count: 1 }, idle),
    };
    const event = backupsEvent(listing);
    expect(event).toMatchObject({
      event: 'backups',
      host: 'host1',
      keep: 'count 1',
      prune: 1,
      backups: [
        {
          file: newer.slice(folder.length + 1),
          created_at: '2026-11-30T12:00:00Z',
          memcached_version: '1.6.18',
          purpose: 'upgrade',
          items: 1,
          value_bytes: 2000,
          restored: false,
          awaiting_restore: true,
          retention: 'keep',
        },
        {
          file: older.slice(folder.length + 1),
          purpose: 'backup',
          restored: false,
          awaiting_restore: false,
          retention: 'prune',
          reason: 'beyond the newest 1',
        },
      ],
    });
    expect(event.prune_bytes).toBe((await stat(older)).size);
    const table = formatBackupsTable([listing]).split('\n');
    expect(table[0]).toMatch(/^HOST\s+BACKUP\s+CREATED\s+FROM\s+ITEMS\s+SIZE\s+RESTORED\s+KEEP$/);
    expect(table[1]).toMatch(
      /^host1 .*2026-11-30 12:00:00Z\s+1\.6\.18\s+1\s+[\d.]+ KiB\s+not yet\s+kept: not restored yet/,
    );
    expect(table[2]).toMatch(/\s+no\s+prune: beyond the newest 1$/);
    expect(table[3]).toMatch(
      /^1 host: 2 backups, [\d.]+ KiB; 1 beyond backup\.keep \(count 1\), [\d.]+ KiB: removed by the next apply/,
    );
  });
});

describe('what a run reports of its prune', () => {
  const event = {
    event: 'backups-pruned' as const,
    host: 'host1',
    check: false,
    folder: '/b/host1',
    keep: 'count 3',
    pruned: [
      {
        file: 'a.mpbak',
        created_at: '2026-11-01T00:00:00.000Z',
        bytes: 72_000_000,
        reason: 'beyond the newest 3',
      },
    ],
    freed_bytes: 72_000_000,
    kept: 3,
  };

  it('one line per host: what went, why, and the space freed; --check says would', () => {
    expect(backupsPrunedLine(event)).toBe(
      'host1 backups pruned 1, 68.7 MiB freed (keep: count 3; 3 kept in /b/host1): a.mpbak (beyond the newest 3)',
    );
    expect(backupsPrunedLine({ ...event, check: true })).toMatch(
      /^host1 backups would prune 1, freeing 68\.7 MiB \(keep: count 3; /,
    );
  });

  it('the recap counts the pruned backups and their bytes', () => {
    const recap = formatRecap({
      host1: {
        ok: 6,
        changed: 0,
        failed: 0,
        skipped: 0,
        unreachable: false,
        pruned_backups: 1,
        pruned_bytes: 72_000_000,
      },
    });
    expect(recap).toContain('pruned_backups=1 (68.7 MiB)');
  });
});
