import { describe, expect, it } from 'vitest';
import { fleetPlaybook, markTakenDown, runEngine, taskLines, twoPhases } from '../support/engine-harness.js';
import { scriptedTask, TaskLog } from '../support/scripted-task.js';

// Ctrl-C: running steps finish and nothing new starts, except on a host swap
// has already taken down: it still gets its restore and verify, or it would be
// left serving a cold cache.

describe('the engine, interrupted', () => {
  it('a host past its swap still gets restore and verify; a host not yet stopped is skipped as interrupted', async () => {
    const log = new TaskLog();
    const ctrlC = new AbortController();
    let host1Swapped: () => void = () => {};
    const swapDone = new Promise<void>((resolve) => {
      host1Swapped = resolve;
    });
    const tasks = ['backup', 'swap', 'restore', 'verify'].map((name) =>
      scriptedTask(name, log, (host) => {
        if (name === 'swap' && host === 'host1') {
          return {
            effect: (ctx) => {
              markTakenDown(ctx);
              ctrlC.abort();
              host1Swapped();
            },
          };
        }
        // host2 is still backing up when Ctrl-C comes.
        if (name === 'backup' && host === 'host2') return { effect: () => swapDone };
        return name === 'swap' ? { effect: markTakenDown } : {};
      }),
    );
    const run = await runEngine({
      playbook: fleetPlaybook(3, ['serial: 2']),
      pipeline: twoPhases([], tasks),
      signal: ctrlC.signal,
    });
    const lines = taskLines(run.events, true);
    expect(lines.filter((line) => line.startsWith('host1'))).toEqual([
      'host1 backup changed: backup done',
      'host1 swap changed: swap done',
      'host1 restore changed: restore done',
      'host1 verify changed: verify done',
    ]);
    expect(lines.filter((line) => line.startsWith('host2'))).toEqual([
      'host2 backup changed: backup done',
      'host2 swap skipped: interrupted',
      'host2 restore skipped: interrupted',
      'host2 verify skipped: interrupted',
    ]);
    // The next batch never starts.
    expect(lines.filter((line) => line.startsWith('host3'))).toEqual(
      ['backup', 'swap', 'restore', 'verify'].map((task) => `host3 ${task} skipped: interrupted`),
    );
    expect(log.calls.filter((c) => c.host === 'host3')).toEqual([]);
    expect(run.rollbacks).toEqual([]);
    expect(run.result.interrupted).toBe(true);
    expect(run.events.at(-1)).toMatchObject({ event: 'recap', interrupted: true });
  });
});
