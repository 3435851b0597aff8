import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createBackupWriter } from '../../src/memcached/backup-writer.js';
import type { BackupsEvent } from '../../src/report/backups-view.js';
import { markRestored } from '../../src/tasks/restore-marker.js';
import { runMemplay } from '../e2e/memplay-cli.js';
import { head } from '../support/playbook-helpers.js';

// The built CLI (npm run build first) on a backup folder written here: `memplay
// backups` reads the controller's files only, so no host is involved.

async function writeBackup(dir: string, host: string, hoursAgo: number, purpose: string): Promise<string> {
  const writer = await createBackupWriter({
    dir,
    host,
    memcachedVersion: '1.6.18',
    serverTime: 1_800_000_000,
    createdAt: new Date(Date.now() - hoursAgo * 3600_000),
  });
  for (let i = 0; i < 3; i++) {
    await writer.writeItem({
      key: Buffer.from(`k${i}`),
      value: Buffer.alloc(100),
      flags: 0,
      exptime: 0,
      cas: 1,
    });
  }
  return (await writer.finish({ purpose, target: '1.6.38' })).path;
}

async function fleet(keep: string): Promise<{ file: string; dir: string }> {
  const root = await mkdtemp(join(tmpdir(), 'memplay-backups-cli-'));
  const file = join(root, 'fleet.yml');
  await writeFile(
    file,
    `${head}backup:\n  dir: ./saved\n${keep}hosts:\n  cache1: { address: 10.0.0.1 }\n  cache2: { address: 10.0.0.2 }\n`,
  );
  return { file, dir: join(root, 'saved') };
}

describe('memplay backups', () => {
  it("lists each host's backups newest first, with what backup.keep would prune, as JSON and as a table", async () => {
    const { file, dir } = await fleet('  keep: { count: 2, max_age: "30d" }\n');
    const old = await writeBackup(dir, 'cache1', 24 * 40, 'upgrade');
    const middle = await writeBackup(dir, 'cache1', 48, 'upgrade');
    const unrestored = await writeBackup(dir, 'cache1', 24 * 50, 'upgrade');
    const newest = await writeBackup(dir, 'cache1', 1, 'backup');
    for (const path of [old, middle]) await markRestored(path, { stored: 3 });

    const run = await runMemplay(['backups', file, '-o', 'json']);
    expect(run.code, run.stderr).toBe(0);
    const listings = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as BackupsEvent);
    expect(listings.map((l) => [l.host, l.keep, l.backups.length, l.prune])).toEqual([
      ['cache1', 'count 2, max_age 30d', 4, 1],
      ['cache2', 'count 2, max_age 30d', 0, 0],
    ]);
    const name = (path: string) => path.slice(path.lastIndexOf('/') + 1);
    expect(listings[0]?.backups.map((b) => [b.file, b.purpose, b.restored, b.retention, b.reason])).toEqual([
      [name(newest), 'backup', false, 'keep', 'among the newest 2, younger than 30d'],
      [name(middle), 'upgrade', true, 'keep', 'among the newest 2, younger than 30d'],
      [name(old), 'upgrade', true, 'prune', 'beyond the newest 2'],
      [name(unrestored), 'upgrade', false, 'keep', 'not restored yet: a re-run or memplay restore needs it'],
    ]);
    expect(listings[0]?.backups[0]).toMatchObject({
      memcached_version: '1.6.18',
      items: 3,
      value_bytes: 300,
    });

    const table = await runMemplay(['backups', file, '--limit', 'cache1']);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[3]).toMatch(new RegExp(`^cache1  ${name(old)} .* yes\\s+prune: beyond the newest 2$`));
    expect(lines[5]).toMatch(
      /^1 host: 4 backups, [\d.]+ KiB; 1 beyond backup\.keep \(count 2, max_age 30d\), [\d.]+ KiB: removed by the next apply/,
    );
  });

  it('a bad backup.keep is refused at its line and column (exit 4); --limit without a playbook exits 5', async () => {
    const { file } = await fleet('  keep: { max_age: 1y }\n');
    const run = await runMemplay(['backups', file]);
    expect(run.code).toBe(4);
    expect(run.stderr).toContain(`${file}:9:20: backup.keep.max_age: must be an age like "12h" or "7d"`);
    const limit = await runMemplay(['backups', '--limit', 'cache1']);
    expect(limit.code).toBe(5);
    expect(limit.stderr).toContain('--limit needs a playbook');
  });
});
