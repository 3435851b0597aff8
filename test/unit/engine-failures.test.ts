import { describe, expect, it } from 'vitest';
import { type EngineDeps, realEngineDeps } from '../../src/engine/deps.js';
import {
  factsOf,
  fleetPlaybook,
  markTakenDown,
  runEngine,
  taskLines,
  twoPhases,
} from '../support/engine-harness.js';
import { scriptedTask, TaskLog } from '../support/scripted-task.js';

// What the engine does when a host fails: roll back only a host swap took down,
// skip the rest of its tasks, and stop starting batches past the failure limit.

function rollingTasks(log: TaskLog, fail: { host: string; task: string }) {
  return ['backup', 'swap', 'restore', 'verify'].map((name) =>
    scriptedTask(name, log, (host) => ({
      ...(name === 'swap' ? { effect: markTakenDown } : {}),
      ...(host === fail.host && name === fail.task ? { applyFails: `${name} broke on ${host}` } : {}),
    })),
  );
}

describe('the engine, when a host fails', () => {
  it('rolls a host back once after a failure past swap, naming the failed task, and skips the rest', async () => {
    const log = new TaskLog();
    const run = await runEngine({
      playbook: fleetPlaybook(1),
      pipeline: twoPhases(
        [scriptedTask('version_check', log)],
        rollingTasks(log, { host: 'host1', task: 'restore' }),
      ),
    });
    expect(run.rollbacks).toEqual(['host1']);
    expect(taskLines(run.events, true)).toEqual([
      'host1 version_check changed: version_check done',
      'host1 backup changed: backup done',
      'host1 swap changed: swap done',
      'host1 restore failed: restore broke on host1',
      'host1 rollback changed: rolled back to 1.6.18 (after restore failed)',
      'host1 verify skipped: restore failed',
    ]);
    expect(log.of('apply')).not.toContain('host1 verify');
    expect(run.result.recap.host1).toMatchObject({ ok: 0, changed: 4, failed: 1, skipped: 1 });
  });

  it('does not roll back a failure before swap: the old instance never stopped', async () => {
    const log = new TaskLog();
    const run = await runEngine({
      playbook: fleetPlaybook(1),
      pipeline: twoPhases([], rollingTasks(log, { host: 'host1', task: 'backup' })),
    });
    expect(run.rollbacks).toEqual([]);
    expect(taskLines(run.events)).toEqual([
      'host1 backup failed',
      'host1 swap skipped',
      'host1 restore skipped',
      'host1 verify skipped',
    ]);
    expect(log.of('apply')).toEqual(['host1 backup']);
  });

  it('max_fail_percentage 0: a failure in batch 1 starts no batch 2; its hosts are skipped, and the run says aborted', async () => {
    const log = new TaskLog();
    const run = await runEngine({
      playbook: fleetPlaybook(2, ['serial: 1']),
      pipeline: twoPhases([], rollingTasks(log, { host: 'host1', task: 'backup' })),
    });
    expect(run.events.filter((e) => e.event === 'aborted')).toEqual([
      {
        event: 'aborted',
        reason: '1 of 2 hosts failed, above max_fail_percentage 0%; no further batch starts',
      },
    ]);
    const host2 = taskLines(run.events, true).filter((line) => line.startsWith('host2'));
    expect(host2).toEqual(
      ['backup', 'swap', 'restore', 'verify'].map(
        (task) => `host2 ${task} skipped: not started: max_fail_percentage exceeded`,
      ),
    );
    expect(log.calls.filter((c) => c.host === 'host2')).toEqual([]);
    expect(run.result.interrupted).toBe(false);
  });

  it('max_failed_hosts 1: the second failed host stops the run, the first does not', async () => {
    const log = new TaskLog();
    const failing = new Set(['host1', 'host2']);
    const tasks = ['backup', 'swap'].map((name) =>
      scriptedTask(name, log, (host) => (name === 'backup' && failing.has(host) ? { applyFails: 'no' } : {})),
    );
    const run = await runEngine({
      playbook: fleetPlaybook(3, ['serial: 1', 'max_failed_hosts: 1']),
      pipeline: twoPhases([], tasks),
    });
    expect(log.of('apply')).toEqual(['host1 backup', 'host2 backup']);
    expect(run.events.filter((e) => e.event === 'aborted')).toEqual([
      { event: 'aborted', reason: '2 of 3 hosts failed, above max_failed_hosts 1; no further batch starts' },
    ]);
    expect(taskLines(run.events, true).filter((line) => line.startsWith('host3'))).toEqual([
      'host3 backup skipped: not started: max_failed_hosts exceeded',
      'host3 swap skipped: not started: max_failed_hosts exceeded',
    ]);
  });

  it('a busy host (its lock held by another run) runs no task and is failed, the others go on', async () => {
    const log = new TaskLog();
    const run = await runEngine({
      playbook: fleetPlaybook(2, ['max_fail_percentage: 100']),
      pipeline: twoPhases([scriptedTask('version_check', log)], [scriptedTask('backup', log)]),
      busy: ['host2'],
    });
    expect(log.calls.filter((c) => c.host === 'host2')).toEqual([]);
    const host2 = taskLines(run.events, true).filter((line) => line.startsWith('host2'));
    expect(host2[0]).toMatch(
      /^host2 version_check failed: busy: another memplay run holds .* \(ops@other 4711 since 09:00\)/,
    );
    expect(host2.slice(1)).toEqual(['host2 backup skipped: the host is busy']);
    expect(log.of('apply')).toEqual(['host1 version_check', 'host1 backup']);
    expect(run.result.recap.host2).toMatchObject({ failed: 1, skipped: 1, changed: 0 });
    // Only the lock this run holds is released; every connection is closed.
    expect(run.locksReleased).toEqual(['host1']);
    expect([...run.transports.values()].every((t) => t.closed)).toBe(true);
  });

  it('keeps going on facts read after apply: the next task plans against what the host is now', async () => {
    const log = new TaskLog();
    const facts = new Map([['host1', factsOf()]]);
    const seen: (string | null)[] = [];
    const swap = scriptedTask('swap', log, () => ({
      effect: () => {
        facts.set('host1', factsOf({ runningVersion: '1.6.38', currentLink: '1.6.38' }));
      },
    }));
    const verify = {
      ...scriptedTask('verify', log),
      plan: async (_ctx: unknown, hostFacts: ReturnType<typeof factsOf>) => {
        seen.push(hostFacts.runningVersion);
        return { status: 'ok' as const, detail: 'fine', facts: hostFacts };
      },
    };
    await runEngine({ playbook: fleetPlaybook(1), pipeline: twoPhases([], [swap, verify]), facts });
    expect(seen).toEqual(['1.6.38']);
  });

  it('does not read the host again after a task that leaves its facts alone (backup, restore)', async () => {
    const log = new TaskLog();
    const reads: string[] = [];
    const facts = new Map([['host1', factsOf()]]);
    const gatherFacts: EngineDeps['gatherFacts'] = async (host) => {
      reads.push(host.name);
      return facts.get(host.name) ?? factsOf();
    };
    // Each changes the facts the fake host reports; only the read after a task may see it.
    const touching = (name: string, version: string) =>
      scriptedTask(name, log, () => ({
        effect: () => void facts.set('host1', factsOf({ runningVersion: version })),
      }));
    const seen: (string | null)[] = [];
    const verify = {
      ...scriptedTask('verify', log),
      plan: async (_ctx: unknown, hostFacts: ReturnType<typeof factsOf>) => {
        seen.push(hostFacts.runningVersion);
        return { status: 'ok' as const, detail: 'fine', facts: hostFacts };
      },
    };
    const backup = { ...touching('backup', 'after-backup'), leavesFactsAlone: true as const };
    const swap = touching('swap', 'after-swap');
    const restore = { ...touching('restore', 'after-restore'), leavesFactsAlone: true as const };
    await runEngine({
      playbook: fleetPlaybook(1),
      pipeline: twoPhases([], [backup, swap, restore, verify]),
      facts,
      deps: { gatherFacts },
    });
    // The connect's read, then only the one after swap.
    expect(reads).toEqual(['host1', 'host1']);
    expect(seen).toEqual(['after-swap']);
  });

  it('a connection lost mid-task: no rollback over it, the host is unreachable and the rest skipped', async () => {
    const log = new TaskLog();
    const run = await runEngine({
      playbook: fleetPlaybook(1),
      pipeline: twoPhases([], rollingTasks(log, { host: 'host1', task: 'restore' })),
      // The real check: a `true` that cannot run means the connection is gone.
      deps: { connectionLost: realEngineDeps.connectionLost },
      script: () => [{ match: /^true$/, result: new Error('Not connected') }],
    });
    expect(run.rollbacks).toEqual([]);
    const lines = taskLines(run.events, true);
    expect(lines[2]).toMatch(/^host1 restore failed: the ssh connection to host1 was lost during restore/);
    expect(lines.slice(3)).toEqual(['host1 verify skipped: ssh connection lost']);
    expect(run.result.recap.host1).toMatchObject({ unreachable: true, failed: 1 });
    expect(run.transports.get('host1')?.commands).toEqual(['true']);
  });
});
