import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { RunEvent } from '../../src/report/events.js';
import { ensureBuild, type Lab, memcachedVersion, resetLab, writeFleetPlaybook } from '../lab/index.js';
import { compareDigests, digestItems, generateItems, loopbackConnection } from '../lab/items/generator.js';
import { runMemplay, spawnMemplay, taskEvents } from './memplay-cli.js';

const lab = inject('lab') as Lab;
const _bin = fileURLToPath(new URL('../../bin/memplay.js', import.meta.url));

const direct = loopbackConnection;

/** Runs apply and SIGKILLs memplay the moment it reports `task` done. */
async function applyKilledAfter(playbook: string, task: string): Promise<RunEvent[]> {
  const live = spawnMemplay(['apply', playbook], (event, { child }) => {
    if (event.event === 'task' && event.task === task) child.kill('SIGKILL');
  });
  await live.exited;
  return live.events;
}

describe('a run killed between swap and restore', () => {
  beforeAll(async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
    await ensureBuild(lab.hosts[0]!, '1.6.38');
  });

  it('memplay SIGKILLed right after swap: the re-run restores the backup it left, every item exact, and a third run restores nothing again', async () => {
    const port = lab.hosts[0]!.memcachedPort;
    await generateItems(direct(port), { seed: 11, count: 30_000, totalBytes: 40 * 1024 * 1024 });
    const original = await digestItems(direct(port));
    const playbook = await writeFleetPlaybook(lab, { hosts: [1] });

    const killed = await applyKilledAfter(playbook, 'swap');
    expect(killed.some((e) => e.event === 'task' && e.task === 'swap' && e.status === 'changed')).toBe(true);
    expect(killed.some((e) => e.event === 'recap')).toBe(false);
    expect(await memcachedVersion(port)).toBe('1.6.38');
    expect((await digestItems(direct(port))).size).toBeLessThan(original.size);

    const check = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    // The backup task finds the file the killed run left and takes it rather than dumping the cold 1.6.38.
    expect(taskEvents(check).find((t) => t.task === 'backup')?.detail).toMatch(
      /^reuse .+\.mpbak \(30,000 items \/ [\d.]+ MiB from 1\.6\.18\): an interrupted run took it and never restored it/,
    );
    expect(taskEvents(check).find((t) => t.task === 'restore')?.detail).toMatch(
      /^restore 30,000 items \/ [\d.]+ MiB from .+\.mpbak$/,
    );

    const rerun = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(rerun.code, rerun.stdout + rerun.stderr).toBe(0);
    const tasks = taskEvents(rerun);
    expect(tasks.find((t) => t.task === 'backup')?.detail).toMatch(/^reuse .+\.mpbak/);
    expect(tasks.find((t) => t.task === 'restore')?.detail).toMatch(/^restored [\d,]+ items/);
    expect(tasks.find((t) => t.task === 'restore')?.status).toBe('changed');
    expect(compareDigests(original, await digestItems(direct(port)))).toEqual([]);
    expect(tasks.find((t) => t.task === 'verify')?.detail).toContain('sampled items match the backup');

    const third = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(third.code).toBe(0);
    expect(taskEvents(third).find((t) => t.task === 'restore')?.detail).toBe(
      'no backup taken in this run: nothing to restore',
    );
  });
});
