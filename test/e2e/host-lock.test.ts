import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { waitFor } from '../lab/exec.js';
import { type Lab, memcachedVersion, resetLab, writeFleetPlaybook } from '../lab/index.js';
import { generateItems, loopbackConnection } from '../lab/items/generator.js';
import { runMemplay, spawnMemplay, taskEvents } from './memplay-cli.js';

// One run per host at a time: a second run finds the host busy, names the
// holder and touches nothing; a run that is gone leaves a lock the next one
// takes over (and says so); a killed run's lock goes with its connection.

const lab = inject('lab') as Lab;
const host1 = () => lab.hosts[0]!;
const lockFile = () => join(host1().prefix, '.memplay', 'lock');

afterAll(async () => {
  await resetLab(lab);
});

describe('one memplay run per host', () => {
  // Builds kept: these runs are about the lock, not the compile.
  const reset = () => resetLab(lab, { keepBuilds: [lab.targetVersion] });

  it('a second apply (and a --check) while the first runs: busy, names the holder, changes nothing; the first completes', async () => {
    await reset();
    await generateItems(loopbackConnection(host1().memcachedPort), {
      seed: 81,
      count: 20_000,
      totalBytes: 20_000_000,
    });
    const playbook = await writeFleetPlaybook(lab, { hosts: [1] });
    let releaseSecond: () => void = () => {};
    const firstHolds = new Promise<void>((resolve) => {
      releaseSecond = resolve;
    });
    const first = spawnMemplay(['apply', playbook], (event) => {
      if (event.event === 'task-start' && event.task === 'backup') releaseSecond();
    });
    await firstHolds;
    expect(existsSync(lockFile())).toBe(true);
    const [second, check] = await Promise.all([
      runMemplay(['apply', playbook, '--output', 'json']),
      runMemplay(['apply', playbook, '--check', '--output', 'json']),
    ]);
    for (const run of [second, check]) {
      expect(run.code, run.stdout + run.stderr).toBe(2);
      const failed = taskEvents(run).find((e) => e.status === 'failed');
      expect(failed?.detail).toMatch(
        new RegExp(
          `^busy: another memplay run holds ${lockFile().replace(/\./g, '\\.')} \\(controller \\S+, user \\S+, pid ${first.child.pid}, started \\S+\\); nothing was changed here`,
        ),
      );
      // The holder process on the host, for a run whose connection lingers after it is gone.
      expect(failed?.detail).toMatch(/end the lock's holder process on the host \(kill \d+\)$/);
      expect(taskEvents(run).filter((e) => e.status === 'changed' || e.status === 'ok')).toEqual([]);
    }
    expect(await first.exited).toBe(0);
    expect(await memcachedVersion(host1().memcachedPort)).toBe(lab.targetVersion);
    // Released with the run.
    expect(existsSync(lockFile())).toBe(false);
  });

  it('a lock left by a run that is gone is taken over, and said so; --check does not count it as busy', async () => {
    await reset();
    const playbook = await writeFleetPlaybook(lab, { hosts: [1] });
    // pid 1 runs no lock holder: whoever wrote this is gone.
    await writeFile(
      lockFile(),
      '1\tcontroller ghost, user nobody, pid 4242, started 2026-01-01T00:00:00.000Z\n',
    );
    const check = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(check.code, check.stdout).toBe(0);
    const run = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const versionCheck = taskEvents(run).find((e) => e.task === 'version_check');
    expect(versionCheck?.detail).toContain(
      "took over memplay's lock left by a run that is gone (controller ghost, user nobody, pid 4242",
    );
    expect(existsSync(lockFile())).toBe(false);
  });

  it('memplay killed mid-run: its lock goes with its connection, and the next run goes ahead', async () => {
    await reset();
    await generateItems(loopbackConnection(host1().memcachedPort), {
      seed: 82,
      count: 5_000,
      totalBytes: 5_000_000,
    });
    const playbook = await writeFleetPlaybook(lab, { hosts: [1] });
    const killed = spawnMemplay(['apply', playbook], (event, live) => {
      if (event.event === 'task-start' && event.task === 'backup') live.child.kill('SIGKILL');
    });
    await killed.exited;
    await waitFor('the killed run’s lock to go', async () => !existsSync(lockFile()), 5_000);
    const next = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(next.code, next.stdout + next.stderr).toBe(0);
    expect(taskEvents(next).find((e) => e.task === 'version_check')?.detail).not.toContain('took over');
  });
});
