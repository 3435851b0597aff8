import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createBackupWriter } from '../../src/memcached/backup-writer.js';
import { backupFileFor } from '../../src/tasks/backup-source.js';
import { markRestored, unrestoredBackup } from '../../src/tasks/restore-marker.js';

const serverTime = 1_800_000_000;

async function writeBackup(dir: string, metadata: Record<string, unknown>, createdAt: Date): Promise<string> {
  const writer = await createBackupWriter({
    dir,
    host: 'host1',
    memcachedVersion: '1.6.18',
    serverTime,
    createdAt,
  });
  await writer.writeItem({ key: Buffer.from('k'), value: Buffer.from('v'), flags: 3, exptime: 0, cas: 1 });
  return (await writer.finish(metadata)).path;
}

describe('the backup an interrupted upgrade left behind', () => {
  it('is found when an upgrade to the running version took it, it was never restored, and the instance is newer', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memplay-leftover-'));
    const path = await writeBackup(
      dir,
      { purpose: 'upgrade', target: '1.6.38' },
      new Date('2026-11-29T01:00:00Z'),
    );
    expect(await unrestoredBackup(dir, 'host1', '1.6.38', serverTime + 5)).toMatchObject({ path, items: 1 });
    // memcached reports its start ~62 s early: still found.
    expect(await unrestoredBackup(dir, 'host1', '1.6.38', serverTime - 62)).toMatchObject({ path });
  });

  it('is not restored twice, not taken for another target, and not applied to an instance older than the backup', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memplay-leftover-'));
    const path = await writeBackup(
      dir,
      { purpose: 'upgrade', target: '1.6.38' },
      new Date('2026-11-29T01:00:00Z'),
    );
    expect(await unrestoredBackup(dir, 'host1', '1.6.45', serverTime + 5)).toBeNull();
    expect(await unrestoredBackup(dir, 'host1', '1.6.38', serverTime - 3600)).toBeNull();
    await markRestored(path, { stored: 1 });
    expect(await unrestoredBackup(dir, 'host1', '1.6.38', serverTime + 5)).toBeNull();
  });

  it('a standalone backup is never restored behind the user’s back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memplay-leftover-'));
    await writeBackup(dir, { purpose: 'backup', target: '1.6.38' }, new Date('2026-11-29T01:00:00Z'));
    expect(await unrestoredBackup(dir, 'host1', '1.6.38', serverTime + 5)).toBeNull();
  });

  it('--from a folder picks the newest backup of the host; a missing one says where it looked', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memplay-from-'));
    await writeBackup(dir, {}, new Date('2026-11-29T01:00:00Z'));
    const newer = await writeBackup(dir, {}, new Date('2026-11-29T02:00:00Z'));
    expect(await backupFileFor(dir, 'host1')).toBe(newer);
    await expect(backupFileFor(dir, 'host2')).rejects.toThrow(
      `no .mpbak backup for host2 in ${join(dir, 'host2')}`,
    );
    await expect(backupFileFor(join(dir, 'nope'), 'host1')).rejects.toThrow(
      'does not exist on the controller',
    );
  });
});
