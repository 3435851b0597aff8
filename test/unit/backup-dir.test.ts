import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openJournal } from '../../src/engine/journal.js';
import { backupDirProblem, backupFolderOwnershipProblem } from '../../src/memcached/backup-dir.js';
import { backupFileName } from '../../src/memcached/backup-layout.js';
import { untrustedBackupProblem } from '../../src/memcached/backup-trust.js';
import { createBackupWriter } from '../../src/memcached/backup-writer.js';
import { markRestored } from '../../src/tasks/restore-marker.js';

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

describe('links under the backup folder are never followed', () => {
  it('a host folder that is a link: refused at load, and the writer neither chmods nor writes into its target', async () => {
    const dir = await folder('linked-host', 0o700);
    const unrelated = await folder('unrelated', 0o755);
    await symlink(unrelated, join(dir, 'host1'));
    expect(backupFolderOwnershipProblem(dir, ['host1'], 'journal.jsonl')).toBe(
      `${join(dir, 'host1')} is a symbolic link to ${unrelated}; memplay follows no link under its backup folder — ` +
        'replace it with a real folder, or set backup.dir to the folder it points to',
    );
    await expect(
      createBackupWriter({ dir, host: 'host1', memcachedVersion: '1.6.18', serverTime: 1 }),
    ).rejects.toThrow(`${join(dir, 'host1')} is a symbolic link to ${unrelated}`);
    expect((await stat(unrelated)).mode & 0o777).toBe(0o755);
    expect(await readdir(unrelated)).toEqual([]);
  });

  it('backup.dir itself a link: refused, naming where it points', async () => {
    const real = await folder('real-backups', 0o700);
    const link = join(root, 'backups-link');
    await symlink(real, link);
    expect(backupFolderOwnershipProblem(link, [], 'journal.jsonl')).toContain(
      `${link} is a symbolic link to ${real};`,
    );
  });

  it('a journal.jsonl that is a link: refused, and its target is neither appended to nor chmod-ed', async () => {
    const dir = await folder('linked-journal', 0o700);
    const target = join(root, 'not-a-journal');
    await writeFile(target, 'precious\n');
    await chmod(target, 0o644);
    await symlink(target, join(dir, 'journal.jsonl'));
    expect(backupFolderOwnershipProblem(dir, [], 'journal.jsonl')).toContain(
      `${join(dir, 'journal.jsonl')} is a symbolic link to ${target};`,
    );
    expect(() => openJournal(dir, 'run-1')).toThrow(`${join(dir, 'journal.jsonl')} is a symbolic link`);
    expect(await readFile(target, 'utf8')).toBe('precious\n');
    expect((await stat(target)).mode & 0o777).toBe(0o644);
  });

  it('a .restored marker that is a link: marking the backup restored does not write through it', async () => {
    const dir = await folder('linked-marker', 0o700);
    const target = join(root, 'marker-target');
    await writeFile(target, 'keep me\n');
    const backup = join(dir, 'b.mpbak');
    await symlink(target, `${backup}.restored`);
    await expect(markRestored(backup, {})).rejects.toThrow(/ELOOP/);
    expect(await readFile(target, 'utf8')).toBe('keep me\n');
  });
});

describe('restore trusts only backup files memplay could have written', () => {
  it('its own 0600 file is trusted; one others may write to, or a link, is refused unless --trust-backup', async () => {
    const dir = await folder('trust', 0o700);
    const own = join(dir, 'own.mpbak');
    await writeFile(own, 'x');
    await chmod(own, 0o600);
    expect(await untrustedBackupProblem(own, false)).toBeUndefined();

    const shared = join(dir, 'shared.mpbak');
    await writeFile(shared, 'x');
    await chmod(shared, 0o666);
    expect(await untrustedBackupProblem(shared, false)).toBe(
      `refusing to restore ${shared}: it is writable by group and others (mode 0666), so memplay did not write it ` +
        '(or it was changed since) — if you know where it came from, pass --trust-backup',
    );
    expect(await untrustedBackupProblem(shared, true)).toBeUndefined();

    const link = join(dir, 'link.mpbak');
    await symlink(own, link);
    expect(await untrustedBackupProblem(link, false)).toContain('it is a symbolic link,');
  });
});

describe('what a killed run leaves in the host folder', () => {
  // A process id no process has: the kernel's largest is below 2^22.
  const deadPid = 4_194_303;
  const machine = hostname().replace(/[^A-Za-z0-9_-]/g, '_');

  it('a re-run in the same second as a killed run writes beside its .partial, and removes it once its writer is gone', async () => {
    expect(() => process.kill(deadPid, 0)).toThrow(/ESRCH/);
    const dir = await folder('killed', 0o700);
    const hostDir = await folder('killed/host1', 0o700);
    const createdAt = new Date('2026-12-06T15:00:00.250Z');
    const name = backupFileName(createdAt, '1.6.18');
    // What memplay before this change left: the very name the re-run used to pick.
    const oldStyle = `.${name}.partial`;
    const dead = `.${name}.${machine}.${deadPid}-0123abcd.partial`;
    const live = `.${name}.${machine}.1-89abcdef.partial`;
    const otherMachine = `.${name}.elsewhere.${deadPid}-01234567.partial`;
    for (const file of [oldStyle, dead, live, otherMachine]) await writeFile(join(hostDir, file), 'killed');

    const writer = await createBackupWriter({
      dir,
      host: 'host1',
      memcachedVersion: '1.6.18',
      serverTime: 1,
      createdAt,
    });
    expect(writer.partialPath).toMatch(
      new RegExp(`/\\.${name.replaceAll('.', '\\.')}\\.${machine}\\.${process.pid}-[0-9a-f]{8}\\.partial$`),
    );
    const during = await readdir(hostDir);
    // Only the dead writer's file of this machine goes; a live one, another machine's
    // and an old-style name (whose writer cannot be told) stay.
    expect(during).not.toContain(dead);
    expect(during).toEqual(expect.arrayContaining([oldStyle, live, otherMachine]));
    const { path } = await writer.finish();
    expect(path).toBe(join(hostDir, name));
    expect((await lstat(path)).isFile()).toBe(true);
  });

  it('a backup of the same second never replaces one already sealed; the message says what exists', async () => {
    const dir = await folder('same-second', 0o700);
    const createdAt = new Date('2026-12-06T15:00:00.000Z');
    const options = { dir, host: 'host1', memcachedVersion: '1.6.18', serverTime: 1, createdAt };
    const first = await (await createBackupWriter(options)).finish();
    const second = await createBackupWriter(options);
    await expect(second.finish()).rejects.toThrow(
      `cannot write the backup to ${join(dir, 'host1')}: ${first.path} already exists (EEXIST) after 4.0 KiB; nothing there was replaced; move it away, or run again`,
    );
    expect(await readdir(join(dir, 'host1'))).toEqual([backupFileName(createdAt, '1.6.18')]);
  });
});
