import { copyFile, open, readdir, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { type Lab, memcachedStats, resetLab, writeFleetPlaybook } from '../lab/index.js';
import { compareDigests, digestItems, generateItems, loopbackConnection } from '../lab/items/generator.js';
import { runMemplay, taskEvents } from './memplay-cli.js';

const lab = inject('lab') as Lab;

const direct = loopbackConnection;

async function flushAll(port: number): Promise<void> {
  const socket = await direct(port)();
  await new Promise<void>((resolve) => {
    socket.on('data', (d: Buffer) => {
      if (d.toString().includes('OK')) resolve();
    });
    socket.write('flush_all\r\n');
  });
  socket.destroy();
  // flush_all marks items invalid lazily; curr_items drops as they are touched or crawled.
}

async function itemsOn(port: number): Promise<number> {
  return (await digestItems(direct(port))).size;
}

async function backupFiles(host: string): Promise<string[]> {
  const dir = join(lab.dir, 'backups', host);
  return (await readdir(dir).catch(() => [] as string[]))
    .filter((f) => f.endsWith('.mpbak'))
    .map((f) => join(dir, f));
}

describe('memplay backup and memplay restore, without an upgrade', () => {
  const host = () => lab.hosts[0]!;
  let playbook: string;

  beforeAll(async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
    await generateItems(direct(host().memcachedPort), { seed: 7, count: 5_000, totalBytes: 8 * 1024 * 1024 });
    playbook = await writeFleetPlaybook(lab, { hosts: [1] });
  });

  it('backup --check reports what it would dump and writes nothing anywhere', async () => {
    const before = await backupFiles('host1');
    const run = await runMemplay(['backup', playbook, '--check', '--output', 'json']);
    expect(run.code, run.stderr).toBe(0);
    const planned = taskEvents(run).find((t) => t.task === 'backup');
    expect(planned?.detail).toMatch(/^back up 5,000 items \/ [\d.]+ MiB from 1\.6\.18/);
    expect(await backupFiles('host1')).toEqual(before);
  });

  it('backup, flush, restore --from the backup folder: every item back, exact', async () => {
    const port = host().memcachedPort;
    const original = await digestItems(direct(port));
    expect(original.size).toBe(5_000);
    const backup = await runMemplay(['backup', playbook, '--output', 'json']);
    expect(backup.code, backup.stdout + backup.stderr).toBe(0);
    // The recap reports memplay's own peak memory: a Node process, so tens of MB, well under a GB here.
    const recap = backup.events.find((e) => e.event === 'recap');
    const peakRss = recap && 'controller_peak_rss_bytes' in recap ? recap.controller_peak_rss_bytes : 0;
    expect(peakRss).toBeGreaterThan(30e6);
    expect(peakRss).toBeLessThan(1e9);
    const files = await backupFiles('host1');
    expect(files.length).toBeGreaterThan(0);
    const newest = files.sort().at(-1)!;
    expect((await stat(newest)).mode & 0o777).toBe(0o600);
    expect((await stat(join(lab.dir, 'backups', 'host1'))).mode & 0o777).toBe(0o700);

    await flushAll(port);
    expect(await itemsOn(port)).toBe(0);
    const restore = await runMemplay([
      'restore',
      playbook,
      '--from',
      join(lab.dir, 'backups'),
      '--output',
      'json',
    ]);
    expect(restore.code, restore.stdout + restore.stderr).toBe(0);
    expect(taskEvents(restore).find((t) => t.task === 'restore')?.detail).toMatch(/^restored 5,000 items/);
    expect(compareDigests(original, await digestItems(direct(port)))).toEqual([]);
  });

  it('a truncated or corrupted backup is refused with a clear error, and nothing is written', async () => {
    const port = host().memcachedPort;
    const good = (await backupFiles('host1')).sort().at(-1)!;
    const truncated = join(lab.dir, 'truncated.mpbak');
    await copyFile(good, truncated);
    await truncate(truncated, Math.floor((await stat(good)).size / 2));
    const corrupted = join(lab.dir, 'corrupted.mpbak');
    await copyFile(good, corrupted);
    const handle = await open(corrupted, 'r+');
    const middle = Math.floor((await stat(good)).size / 2);
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, middle);
    byte[0] = (byte[0] as number) ^ 0xff;
    await handle.write(byte, 0, 1, middle);
    await handle.close();

    await flushAll(port);
    const setsBefore = Number((await memcachedStats(port))?.cmd_set);
    for (const [file, message] of [
      [truncated, /refusing .*truncated\.mpbak: backup .*: truncated at byte \d+/],
      [
        corrupted,
        /refusing .*corrupted\.mpbak: backup .*: sha256 of the records is [0-9a-f]{64}, the trailer says/,
      ],
    ] as const) {
      const run = await runMemplay(['restore', playbook, '--from', file, '--output', 'json']);
      expect(run.code).toBe(2);
      const failed = taskEvents(run).find((t) => t.task === 'restore');
      expect(failed?.status).toBe('failed');
      expect(failed?.detail).toMatch(message);
      expect(failed?.detail).toContain('nothing was written to the host');
    }
    expect(Number((await memcachedStats(port))?.cmd_set)).toBe(setsBefore);
    expect(await itemsOn(port)).toBe(0);
  });
});
