import { describe, expect, it } from 'vitest';
import type { PlanAction } from '../../src/tasks/task.js';
import { factsOf, fleetPlaybook, runEngine, taskLines, twoPhases } from '../support/engine-harness.js';
import { scriptedTask, TaskLog } from '../support/scripted-task.js';

// --check plans and stops: nothing is applied, nothing is sent to a host, no
// lock is taken; the fleet summary adds up the plans.

const backupAction = (items: number, bytes: number): PlanAction => ({
  kind: 'backup',
  items,
  bytes,
  version: '1.6.18',
  text: `back up ${items} items`,
});

describe('the engine in --check', () => {
  it('touches nothing: no apply, no command on any host, no lock taken', async () => {
    const log = new TaskLog();
    const run = await runEngine({
      playbook: fleetPlaybook(2, ['serial: 1']),
      pipeline: twoPhases(
        [scriptedTask('version_check', log), scriptedTask('build', log)],
        ['backup', 'swap', 'restore', 'verify'].map((name) => scriptedTask(name, log)),
      ),
      check: true,
    });
    expect(log.of('apply')).toEqual([]);
    expect(log.of('plan')).toHaveLength(12);
    for (const transport of run.transports.values()) expect(transport.touched).toBe(false);
    expect(run.locksTaken).toEqual([]);
    expect(run.locksPeeked.sort()).toEqual(['host1', 'host2']);
    expect(run.events.filter((e) => e.event === 'task').every((e) => e.event === 'task' && e.check)).toBe(
      true,
    );
  });

  it('plans each task against the facts the previous plan predicts', async () => {
    const log = new TaskLog();
    const seen: (string | null)[] = [];
    const swap = scriptedTask('swap', log, () => ({
      predict: (facts) => ({ ...facts, runningVersion: '1.6.38', currentLink: '1.6.38' }),
    }));
    const verify = scriptedTask('verify', log, () => ({
      status: 'ok',
      predict: (facts) => {
        seen.push(facts.runningVersion);
        return facts;
      },
    }));
    await runEngine({ playbook: fleetPlaybook(1), pipeline: twoPhases([], [swap, verify]), check: true });
    expect(seen).toEqual(['1.6.38']);
  });

  it('counts each host in the recap and adds up the plans in plan-summary, failures named', async () => {
    const log = new TaskLog();
    const facts = new Map([['host3', factsOf({ runningVersion: '1.6.38', currentLink: '1.6.38' })]]);
    const run = await runEngine({
      playbook: fleetPlaybook(3, ['serial: 1', 'max_fail_percentage: 100']),
      pipeline: twoPhases(
        [scriptedTask('version_check', log, () => ({ status: 'ok' }))],
        [
          scriptedTask('backup', log, (host) =>
            host === 'host3'
              ? { status: 'ok' }
              : { actions: [host === 'host1' ? backupAction(10, 1000) : backupAction(5, 500)] },
          ),
          scriptedTask('swap', log, (host) =>
            host === 'host2'
              ? { planFails: 'no working build of 1.6.38' }
              : host === 'host3'
                ? { status: 'ok' }
                : {},
          ),
          scriptedTask('verify', log, () => ({ status: 'ok' })),
        ],
      ),
      facts,
      check: true,
    });
    expect(run.result.recap).toEqual({
      host1: { ok: 2, changed: 2, failed: 0, skipped: 0, unreachable: false },
      host2: { ok: 1, changed: 1, failed: 1, skipped: 1, unreachable: false },
      host3: { ok: 4, changed: 0, failed: 0, skipped: 0, unreachable: false },
    });
    expect(taskLines(run.events, true).filter((line) => line.startsWith('host2'))).toEqual([
      'host2 version_check ok: version_check planned',
      'host2 backup changed: backup planned',
      'host2 swap failed: no working build of 1.6.38',
      'host2 verify skipped: swap failed',
    ]);
    const summary = run.events.find((e) => e.event === 'plan-summary');
    expect(summary).toMatchObject({
      hosts: 3,
      changing: ['host1'],
      unchanged: ['host3'],
      failed: ['host2'],
      unreachable: [],
      failures: [{ host: 'host2', task: 'swap', detail: 'no working build of 1.6.38' }],
      backup_hosts: 2,
      backup_items: 15,
      backup_bytes: 1500,
    });
    // The summary comes right before the recap, and only in --check.
    expect(run.events.slice(-2).map((e) => e.event)).toEqual(['plan-summary', 'recap']);
  });

  it('apply sends no plan-summary', async () => {
    const log = new TaskLog();
    const run = await runEngine({
      playbook: fleetPlaybook(1),
      pipeline: twoPhases([], [scriptedTask('backup', log)]),
    });
    expect(run.events.map((e) => e.event)).not.toContain('plan-summary');
    expect(run.result.recap.host1).toEqual({ ok: 0, changed: 1, failed: 0, skipped: 0, unreachable: false });
  });
});
