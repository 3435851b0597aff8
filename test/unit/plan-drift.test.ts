import { describe, expect, it } from 'vitest';
import { planDrift } from '../../src/engine/plan-drift.js';
import type { RunEvent } from '../../src/report/events.js';
import { plainRenderer } from '../../src/report/plain.js';
import { prettyRenderer } from '../../src/report/pretty.js';
import { factsOf, fleetPlaybook, runEngine, taskLines, twoPhases } from '../support/engine-harness.js';
import { scriptedTask, TaskLog } from '../support/scripted-task.js';

// After apply the engine reads the host again; where it differs from what the
// plan predicted on a field the plan set, it says so (Terraform's inconsistent
// final plan). A warning, never a failure.

const before = factsOf();
const swapped = factsOf({ runningVersion: '1.6.38', currentLink: '1.6.38', pid: null });

describe('planDrift', () => {
  it('is empty when apply did what the plan predicted, whatever else changed (a new pid)', () => {
    expect(planDrift(before, swapped, { ...swapped, pid: 5151 })).toEqual([]);
  });

  it('names each predicted field that came out otherwise, with both values', () => {
    expect(planDrift(before, swapped, factsOf({ currentLink: '1.6.38', runningVersion: null }))).toEqual([
      { field: 'runningVersion', planned: '1.6.38', found: null },
    ]);
    expect(planDrift(before, swapped, before)).toEqual([
      { field: 'runningVersion', planned: '1.6.38', found: '1.6.18' },
      { field: 'currentLink', planned: '1.6.38', found: '1.6.18' },
    ]);
  });

  it('compares the installed builds as a set, and says which does not run', () => {
    const built = factsOf({ builds: [{ dir: '1.6.38', reportedVersion: '1.6.38', madeByMemplay: true }] });
    const noBuilds = factsOf({ builds: [] });
    expect(planDrift(noBuilds, built, built)).toEqual([]);
    expect(
      planDrift(
        noBuilds,
        built,
        factsOf({ builds: [{ dir: '1.6.38', reportedVersion: null, madeByMemplay: true }] }),
      ),
    ).toEqual([{ field: 'builds', planned: '1.6.38', found: '1.6.38 (does not run)' }]);
  });

  it('a build gone entirely is found as none', () => {
    const built = factsOf({ builds: [{ dir: '1.6.38', reportedVersion: '1.6.38', madeByMemplay: true }] });
    expect(planDrift(factsOf({ builds: [] }), built, factsOf({ builds: [] }))).toEqual([
      { field: 'builds', planned: '1.6.38', found: null },
    ]);
  });

  it('a field the plan left as it found it makes no claim: a command step may restart memcached', () => {
    expect(planDrift(before, before, factsOf({ runningVersion: null, builds: [] }))).toEqual([]);
  });
});

describe('the engine after apply', () => {
  it('emits plan-drift when a task left the host other than its plan said, and the run goes on', async () => {
    const log = new TaskLog();
    const facts = new Map([['host1', factsOf()]]);
    const swap = scriptedTask('swap', log, () => ({
      predict: (f) => ({ ...f, runningVersion: '1.6.38', currentLink: '1.6.38' }),
      // Repoints `current` but the old build still answers on the port.
      effect: () => {
        facts.set('host1', factsOf({ currentLink: '1.6.38' }));
      },
    }));
    const run = await runEngine({
      playbook: fleetPlaybook(1),
      pipeline: twoPhases([], [swap, scriptedTask('verify', log)]),
      facts,
    });
    const drifts = run.events.filter((e) => e.event === 'plan-drift');
    expect(drifts).toEqual([
      {
        event: 'plan-drift',
        host: 'host1',
        task: 'swap',
        field: 'runningVersion',
        planned: '1.6.38',
        found: '1.6.18',
      },
    ]);
    expect(taskLines(run.events)).toEqual(['host1 swap changed', 'host1 verify changed']);
    expect(run.result.recap.host1).toMatchObject({ failed: 0, changed: 2 });
  });

  it('emits none when apply did what was planned', async () => {
    const log = new TaskLog();
    const facts = new Map([['host1', factsOf()]]);
    const swap = scriptedTask('swap', log, () => ({
      predict: (f) => ({ ...f, runningVersion: '1.6.38', currentLink: '1.6.38' }),
      effect: () => {
        facts.set('host1', factsOf({ runningVersion: '1.6.38', currentLink: '1.6.38' }));
      },
    }));
    const run = await runEngine({ playbook: fleetPlaybook(1), pipeline: twoPhases([], [swap]), facts });
    expect(run.events.map((e) => e.event)).not.toContain('plan-drift');
  });

  it('the plain renderer prints it as a warning line naming host, task, field and both values', () => {
    const lines: string[] = [];
    const event: RunEvent = {
      event: 'plan-drift',
      host: 'host1',
      task: 'swap',
      field: 'runningVersion',
      planned: '1.6.38',
      found: null,
    };
    plainRenderer((line) => lines.push(line), false)(event);
    expect(lines).toEqual([
      'host1 swap WARNING plan drift: runningVersion is (none), the plan predicted 1.6.38 (later tasks plan against what was found)',
    ]);
  });

  it('the live view prints the same warning under its task list', async () => {
    let text = '';
    const view = prettyRenderer((chunk) => {
      text += chunk;
    });
    view.handle({
      event: 'plan-drift',
      host: 'host2',
      task: 'build',
      field: 'builds',
      planned: '1.6.38',
      found: null,
    });
    await view.finished();
    expect(text).toContain('host2 build WARNING plan drift: builds is (none), the plan predicted 1.6.38');
  });

  it('is journaled beside the task results', async () => {
    const log = new TaskLog();
    const facts = new Map([['host1', factsOf()]]);
    const entries: unknown[] = [];
    const swap = scriptedTask('swap', log, () => ({
      predict: (f) => ({ ...f, currentLink: '1.6.38', runningVersion: '1.6.38' }),
      effect: () => {
        facts.set('host1', factsOf({ runningVersion: '1.6.38' }));
      },
    }));
    await runEngine({
      playbook: fleetPlaybook(1),
      pipeline: twoPhases([], [swap]),
      facts,
      journal: { path: '/b/journal.jsonl', append: (entry) => entries.push(entry), close: () => {} },
    });
    expect(entries).toContainEqual({
      entry: 'plan-drift',
      host: 'host1',
      task: 'swap',
      field: 'currentLink',
      planned: '1.6.38',
      found: '1.6.18',
    });
  });
});
