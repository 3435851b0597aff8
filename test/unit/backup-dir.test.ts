import { chmod, mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupDirProblem } from '../../src/memcached/backup-dir.js';
import { createBackupWriter } from '../../src/memcached/backup-writer.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'memplay-backup-dir-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function folder(name: string, mode: number): Promise<string> {
  const path = join(root, name);
  await mkdir(path, { recursive: true });
  await chmod(path, mode);
  return path;
}

describe('backup folder permissions', () => {
  it('accepts a private folder, one readable by others, and a folder that does not exist yet', async () => {
    expect(await backupDirProblem(await folder('private', 0o700), 'host1')).toBeUndefined();
    expect(await backupDirProblem(await folder('readable', 0o755), 'host1')).toBeUndefined();
    expect(await backupDirProblem(join(root, 'not-yet'), 'host1')).toBeUndefined();
  });

  it('refuses a world-writable backup.dir, naming the path, its mode in octal and the chmod that fixes it', async () => {
    const dir = await folder('world writable', 0o777);
    expect(await backupDirProblem(dir, 'host1')).toBe(
      `backup folder ${dir} is writable by group and others (mode 0777), who could replace or remove backups; ` +
        `refusing to write the cache there — run chmod 700 '${dir}' (or pick another backup.dir)`,
    );
    expect(await backupDirProblem(await folder('sticky', 0o1777), 'host1')).toContain('(mode 1777)');
  });

  it("refuses a group-writable host folder under a private backup.dir, and only that host's", async () => {
    const dir = await folder('per-host', 0o700);
    const hostDir = await folder('per-host/host2', 0o770);
    expect(await backupDirProblem(dir, 'host2')).toContain(
      `backup folder ${hostDir} is writable by group (mode 0770)`,
    );
    expect(await backupDirProblem(dir, 'host1')).toBeUndefined();
  });

  it('the writer refuses an unsafe folder without creating anything, and otherwise writes 0600 files in 0700 folders', async () => {
    const unsafe = await folder('writer-unsafe', 0o775);
    await expect(
      createBackupWriter({ dir: unsafe, host: 'host1', memcachedVersion: '1.6.18', serverTime: 1 }),
    ).rejects.toThrow(/is writable by group \(mode 0775\).*chmod 700/);
    expect(await readdir(unsafe)).toEqual([]);

    const fresh = join(root, 'writer-fresh');
    const writer = await createBackupWriter({
      dir: fresh,
      host: 'host1',
      memcachedVersion: '1.6.18',
      serverTime: 1,
    });
    const { path } = await writer.finish();
    expect((await stat(join(fresh, 'host1'))).mode & 0o777).toBe(0o700);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });
});
