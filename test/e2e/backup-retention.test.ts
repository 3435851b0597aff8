import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parseDocument } from 'yaml';
import { createBackupWriter } from '../../src/memcached/backup-writer.js';
import { writeFenceRecord } from '../../src/memcached/old-side-fence.js';
import type { BackupsEvent } from '../../src/report/backups-view.js';
import type { RunEvent } from '../../src/report/events.js';
import { markRestored } from '../../src/tasks/restore-marker.js';
import { ensureBuild, type Lab, memcachedVersion, resetLab, writeFleetPlaybook } from '../lab/index.js';
import { compareDigests, digestItems, generateItems, loopbackConnection } from '../lab/items/generator.js';
import { type MemplayRun, recapOf, runMemplay } from './memplay-cli.js';

// backup.keep on the lab: host1 goes apply → rollback → apply with `keep: { count: 2 }`,
// each run taking a backup; after each, the folder holds what the policy says, the
// unrestored backup of an interrupted run and a file memplay did not write stay, and
// `memplay backups -o json` lists what is there.

const lab = inject('lab') as Lab;
const host1 = () => lab.hosts[0]!;
const day = 24 * 3600 * 1000;

type Pruned = Extract<RunEvent, { event: 'backups-pruned' }>;

function prunedEvent(run: MemplayRun): Pruned | undefined {
  return run.events.find((e): e is Pruned => e.event === 'backups-pruned');
}

/** A backup of host1 as an earlier run would have left it, `daysAgo` old. */
async function plantBackup(dir: string, daysAgo: number, target: string): Promise<string> {
  const createdAt = new Date(Date.now() - daysAgo * day);
  const writer = await createBackupWriter({
    dir,
    host: 'host1',
    memcachedVersion: '1.6.18',
    serverTime: Math.floor(createdAt.getTime() / 1000),
    createdAt,
  });
  await writer.writeItem({
    key: Buffer.from('old'),
    value: Buffer.alloc(4096, 7),
    flags: 0,
    exptime: 0,
    cas: 1,
  });
  return (await writer.finish({ purpose: 'upgrade', target })).path;
}

describe('backup.keep: count 2 over apply, rollback and apply on host1', () => {
  let playbook: string;
  let folder: string;
  const name = (path: string) => path.slice(path.lastIndexOf('/') + 1);
  const files = async () => (await readdir(folder)).sort();
  const sizeOf = async (paths: readonly string[]) => {
    let total = 0;
    for (const path of paths) total += (await stat(path)).size;
    return total;
  };
  /** The .mpbak files the run in `run` wrote, newest last. */
  const backupOf = async (before: readonly string[]) =>
    (await files()).filter((f) => f.endsWith('.mpbak') && !before.includes(f));

  let fiveDays: string;
  let sixDays: string;
  let unrestored: string;

  beforeAll(async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
    await ensureBuild(host1(), '1.6.38');
    await generateItems(loopbackConnection(host1().memcachedPort), {
      seed: 91,
      count: 3_000,
      totalBytes: 4 * 1024 * 1024,
    });
    const dir = await mkdtemp(join(lab.dir, 'retention-'));
    folder = join(dir, 'host1');
    // Two earlier upgrades, restored (one with its fence record), and an upgrade to
    // 1.6.45 that was interrupted before its restore: older than anything the runs take.
    fiveDays = await plantBackup(dir, 5, '1.6.38');
    sixDays = await plantBackup(dir, 6, '1.6.38');
    unrestored = await plantBackup(dir, 10, '1.6.45');
    for (const path of [fiveDays, sixDays]) await markRestored(path, { stored: 1 });
    await writeFenceRecord(sixDays, { state: 'complete', excluded: [], unknown: 0 });
    await writeFile(join(folder, '00-copied-by-hand.mpbak'), 'kept by hand, not a memplay backup\n');
    const base = await writeFleetPlaybook(lab, { hosts: [1], backupDir: dir });
    const document = parseDocument(await readFile(base, 'utf8'));
    document.setIn(['backup', 'keep'], { count: 2 });
    playbook = base.replace(/\.yml$/, '-keep2.yml');
    await writeFile(playbook, document.toString());
  });

  it('apply --check names the backup the run would prune, counting the one it takes, and deletes nothing', async () => {
    const before = await files();
    const run = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(prunedEvent(run)).toMatchObject({
      host: 'host1',
      check: true,
      keep: 'count 2',
      pruned: [{ file: name(sixDays), reason: 'beyond the newest 2, counting the one this run takes' }],
      freed_bytes: await sizeOf([sixDays, `${sixDays}.restored`, `${sixDays}.fence.json`]),
    });
    expect(await files()).toEqual(before);
  });

  it('each run keeps its own backup and the newest before it, never the unrestored one or a file it did not write', async () => {
    const original = await digestItems(loopbackConnection(host1().memcachedPort));
    const runs: Array<[string[], string[]]> = [
      // [command, the planted backups this run prunes]
      [['apply'], [sixDays]],
      [['rollback'], [fiveDays]],
      [['apply'], []],
    ];
    const taken: string[] = [];
    for (const [command, plantedPruned] of runs) {
      const before = await files();
      const previous = taken.at(-1);
      // The planted ones go first (oldest); once they are gone, the run before the last one goes.
      const expectedGone =
        plantedPruned.length > 0 ? plantedPruned : taken.slice(-2, -1).map((f) => join(folder, f));
      const goneBytes = await sizeOf(
        expectedGone.flatMap((path) =>
          [path, `${path}.restored`, `${path}.fence.json`].filter((p) => before.includes(name(p))),
        ),
      );
      const run = await runMemplay([...command, playbook, '--output', 'json']);
      expect(run.code, `${command}: ${run.stdout}${run.stderr}`).toBe(0);
      const [mine] = await backupOf(before);
      expect(mine, `${command} took a backup`).toBeDefined();
      taken.push(mine as string);

      const event = prunedEvent(run);
      expect(
        event?.pruned.map((p) => p.file),
        command.join(' '),
      ).toEqual(expectedGone.map(name));
      expect(event?.check).toBe(false);
      expect(event?.freed_bytes).toBe(goneBytes);
      expect(recapOf(run).host1).toMatchObject({ failed: 0, pruned_backups: 1, pruned_bytes: goneBytes });

      const left = await files();
      for (const gone of expectedGone) {
        expect(
          left.filter((f) => f.startsWith(name(gone))),
          `${name(gone)} and its sidecars`,
        ).toEqual([]);
      }
      // This run's backup, restored, and the one before it stay; so do the unrestored one and the copy made by hand.
      expect(left).toContain(mine);
      expect(left).toContain(`${mine}.restored`);
      if (previous) expect(left).toContain(previous);
      expect(left).toContain(name(unrestored));
      expect(left).toContain('00-copied-by-hand.mpbak');
      expect(left.filter((f) => f.endsWith('.mpbak'))).toHaveLength(4);
    }
    expect(await memcachedVersion(host1().memcachedPort)).toBe('1.6.38');
    expect(compareDigests(original, await digestItems(loopbackConnection(host1().memcachedPort)), 5)).toEqual(
      [],
    );

    const listed = await runMemplay(['backups', playbook, '-o', 'json']);
    expect(listed.code, listed.stderr).toBe(0);
    const [host] = listed.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as BackupsEvent);
    expect(host?.backups.map((b) => [b.file, b.retention, b.restored, b.awaiting_restore])).toEqual([
      [taken[2], 'keep', true, false],
      [taken[1], 'keep', true, false],
      [name(unrestored), 'keep', false, true],
      ['00-copied-by-hand.mpbak', 'keep', false, false],
    ]);
    expect(host?.backups.slice(0, 2).map((b) => [b.memcached_version, b.purpose, b.items])).toEqual([
      ['1.6.18', 'upgrade', 3_000],
      ['1.6.38', 'rollback', 3_000],
    ]);
    expect(host?.prune).toBe(0);
  });
});
