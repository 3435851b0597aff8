import { chmod, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Lab, resetLab, snapshotHost, writeFleetPlaybook } from '../lab/index.js';
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
