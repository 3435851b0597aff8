import { execFileSync } from 'node:child_process';
import {
  chmod,
  chown,
  copyFile,
  mkdir,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Lab, resetLab, snapshotHost, writeFleetPlaybook } from '../lab/index.js';
import { compareDigests, digestItems, generateItems, loopbackConnection } from '../lab/items/generator.js';
import { runMemplay, taskEvents } from './memplay-cli.js';

const lab = inject('lab') as Lab;
const scratch = join(lab.dir, 'backup-dir-test');

async function folder(path: string, mode: number): Promise<string> {
  await mkdir(path, { recursive: true });
  await chmod(path, mode);
  return path;
}

async function snapshots() {
  return Promise.all([1, 2, 3].map((i) => snapshotHost(lab, i)));
}

describe('a backup folder others can write to is refused before any host is touched', () => {
  beforeAll(async () => {
    await rm(scratch, { recursive: true, force: true });
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('a world-writable backup.dir: backup --check and apply both exit 2 naming the path, mode 0777 and chmod 700; no host changes', async () => {
    const dir = await folder(join(scratch, 'open'), 0o777);
    const playbook = await writeFleetPlaybook(lab, { backupDir: dir });
    const fix = `backup folder ${dir} is writable by group and others (mode 0777)`;

    const check = await runMemplay(['backup', playbook, '--check', '--output', 'json']);
    expect(check.code, check.stdout + check.stderr).toBe(2);
    for (const host of ['host1', 'host2', 'host3']) {
      const refused = taskEvents(check).find((t) => t.host === host && t.task === 'backup');
      expect(refused?.status, host).toBe('failed');
      expect(refused?.detail).toContain(fix);
      expect(refused?.detail).toContain(`chmod 700 ${dir}`);
    }

    const before = await snapshots();
    const apply = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(2);
    expect(apply.events.some((e) => e.event === 'aborted')).toBe(true);
    expect(taskEvents(apply).filter((t) => t.status === 'changed')).toEqual([]);
    // Refused before connecting: no command ran anywhere, so nothing on a host moved.
    expect(await snapshots()).toEqual(before);
    // Not even the journal goes into a folder others can write to.
    expect(await readdir(dir)).toEqual([]);
  });

  it('a group-writable host folder under a private backup.dir: --check fails that host only, backup writes no file anywhere', async () => {
    const dir = await folder(join(scratch, 'private'), 0o700);
    const host1Dir = await folder(join(dir, 'host1'), 0o770);
    const playbook = await writeFleetPlaybook(lab, { backupDir: dir });

    const check = await runMemplay(['backup', playbook, '--check', '--output', 'json']);
    expect(check.code, check.stdout + check.stderr).toBe(2);
    const planned = taskEvents(check).filter((t) => t.task === 'backup');
    expect(planned.find((t) => t.host === 'host1')?.detail).toContain(
      `backup folder ${host1Dir} is writable by group (mode 0770)`,
    );
    expect(planned.filter((t) => t.host !== 'host1').map((t) => t.status)).toEqual(['changed', 'changed']);

    // max_fail_percentage 0: one refused host stops the run before any batch.
    const backup = await runMemplay(['backup', playbook, '--output', 'json']);
    expect(backup.code, backup.stdout + backup.stderr).toBe(2);
    // The private backup.dir holds the journal of the refused run, and no backup.
    expect((await readdir(dir)).sort()).toEqual(['host1', 'journal.jsonl']);
    expect(await readdir(host1Dir)).toEqual([]);
  });
});

// Issue 17, item 1, reproduced as root: memplay followed a journal.jsonl link in a folder
// another user owns (appending to and chmod-ing its target), chmod-ed a linked host folder's
// target 0700 and wrote the backup into it, and restored whatever that folder's owner put there.
describe('a backup folder another user owns, or a link under it, is refused (exit 4) before any host is touched', () => {
  const otherUser = 'mpuser';
  const otherUid = Number(execFileSync('id', ['-u', otherUser]).toString().trim());
  const refusedBy = (path: string) =>
    `${path} belongs to uid ${otherUid} (${otherUser}), not to uid 0 (root) who runs memplay`;

  beforeAll(async () => {
    await rm(scratch, { recursive: true, force: true });
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
  });
  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('backup.dir owned by another user: backup and backup --check exit 4 at backup.dir; nothing is written there, no host changes', async () => {
    const dir = await folder(join(scratch, 'theirs'), 0o700);
    await chown(dir, otherUid, otherUid);
    const playbook = await writeFleetPlaybook(lab, { backupDir: dir });
    const before = await snapshots();
    for (const args of [
      ['backup', playbook, '--check'],
      ['backup', playbook],
    ]) {
      const run = await runMemplay(args);
      expect(run.code, run.stdout + run.stderr).toBe(4);
      expect(run.stderr).toContain(`backup.dir: ${refusedBy(dir)}`);
      expect(run.stderr).toContain(`chown -R 0 ${dir}`);
    }
    expect(await snapshots()).toEqual(before);
    expect(await readdir(dir)).toEqual([]);
  });

  it("a journal.jsonl link in another user's folder: exit 4, and the link's target is neither appended to nor chmod-ed", async () => {
    const dir = await folder(join(scratch, 'theirs-journal'), 0o700);
    const target = join(scratch, 'precious.txt');
    await writeFile(target, 'precious\n', { mode: 0o644 });
    await symlink(target, join(dir, 'journal.jsonl'));
    await chown(dir, otherUid, otherUid);
    const playbook = await writeFleetPlaybook(lab, { backupDir: dir });
    const run = await runMemplay(['backup', playbook]);
    expect(run.code, run.stdout + run.stderr).toBe(4);
    expect(run.stderr).toContain(refusedBy(dir));
    expect(await readFile(target, 'utf8')).toBe('precious\n');
    expect((await stat(target)).mode & 0o777).toBe(0o644);

    // The same link in a folder of root's own: refused for being a link.
    const own = await folder(join(scratch, 'own-journal'), 0o700);
    await symlink(target, join(own, 'journal.jsonl'));
    const linked = await runMemplay(['backup', await writeFleetPlaybook(lab, { backupDir: own })]);
    expect(linked.code, linked.stdout + linked.stderr).toBe(4);
    expect(linked.stderr).toContain(`${join(own, 'journal.jsonl')} is a symbolic link to ${target}`);
    expect(await readFile(target, 'utf8')).toBe('precious\n');
  });

  it('a host folder linked to an unrelated folder: exit 4; the unrelated folder keeps its mode and gets no backup', async () => {
    const dir = await folder(join(scratch, 'linked-host'), 0o700);
    const unrelated = await folder(join(scratch, 'unrelated'), 0o755);
    await symlink(unrelated, join(dir, 'host1'));
    const run = await runMemplay(['backup', await writeFleetPlaybook(lab, { backupDir: dir })]);
    expect(run.code, run.stdout + run.stderr).toBe(4);
    expect(run.stderr).toContain(`${join(dir, 'host1')} is a symbolic link to ${unrelated}`);
    expect((await stat(unrelated)).mode & 0o777).toBe(0o755);
    expect(await readdir(unrelated)).toEqual([]);
  });

  it('restore --from a backup file another user owns: refused (exit 5), host untouched; with --trust-backup every item comes back, exact', async () => {
    const port = lab.hosts[0]!.memcachedPort;
    const direct = loopbackConnection;
    await generateItems(direct(port), { seed: 17, count: 2_000, totalBytes: 2 * 1024 * 1024 });
    const original = await digestItems(direct(port));
    const dir = await folder(join(scratch, 'mine'), 0o700);
    const playbook = await writeFleetPlaybook(lab, { backupDir: dir, hosts: [1] });
    const backup = await runMemplay(['backup', playbook]);
    expect(backup.code, backup.stdout + backup.stderr).toBe(0);
    const [name] = (await readdir(join(dir, 'host1'))).filter((f) => f.endsWith('.mpbak'));
    const theirs = join(scratch, 'their-copy.mpbak');
    await copyFile(join(dir, 'host1', name!), theirs);
    await chown(theirs, otherUid, otherUid);

    const socket = await direct(port)();
    await new Promise<void>((resolve) => {
      socket.on('data', (d: Buffer) => d.toString().includes('OK') && resolve());
      socket.write('flush_all\r\n');
    });
    socket.destroy();
    expect((await digestItems(direct(port))).size).toBe(0);

    const refused = await runMemplay(['restore', playbook, '--from', theirs]);
    expect(refused.code, refused.stdout + refused.stderr).toBe(5);
    expect(refused.stderr).toContain(
      `refusing to restore ${theirs}: it belongs to uid ${otherUid} (${otherUser}), not to uid 0 (root) who runs memplay, ` +
        'so memplay did not write it (or it was changed since) — if you know where it came from, pass --trust-backup',
    );
    expect((await digestItems(direct(port))).size).toBe(0);

    const trusted = await runMemplay([
      'restore',
      playbook,
      '--from',
      theirs,
      '--trust-backup',
      '--output',
      'json',
    ]);
    expect(trusted.code, trusted.stdout + trusted.stderr).toBe(0);
    expect(taskEvents(trusted).find((t) => t.task === 'restore')?.detail).toMatch(/^restored 2,000 items/);
    expect(compareDigests(original, await digestItems(direct(port)))).toEqual([]);
  });
});
