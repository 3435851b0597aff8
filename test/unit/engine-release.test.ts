import { describe, expect, it } from 'vitest';
import type { NewSideGuard } from '../../src/memcached/new-side-guard.js';
import type { OldSideFence } from '../../src/memcached/old-side-fence.js';
import type { HostRun, TaskContext } from '../../src/tasks/task.js';
import { fleetPlaybook, type LiveRun, runEngine, twoPhases } from '../support/engine-harness.js';
import { scriptedTask, TaskLog } from '../support/scripted-task.js';

// A host whose part in the run is over lets go of its connection and its lock
// then, not when the whole fleet is done: a run kept every host's connection
// (and what its tasks held through it) open to the end, so its controller
// memory grew with every host it finished.

interface Seen {
  readonly closed: string[];
  readonly released: string[];
}

/** A task effect that notes, per host, whose connections were closed and whose locks released when it ran. */
function noteOthers(seen: Map<string, Seen>, live: () => LiveRun | undefined) {
  return (ctx: TaskContext) => {
    const run = live();
    seen.set(ctx.host.name, {
      closed: [...(run?.transports ?? [])].filter(([, t]) => t.closed).map(([host]) => host),
      released: [...(run?.locksReleased ?? [])],
    });
  };
}

describe('the engine, as hosts finish', () => {
  it('closes a host’s connection and releases its lock when its last phase ends, before the next batch starts', async () => {
    const log = new TaskLog();
    const seen = new Map<string, Seen>();
    let live: LiveRun | undefined;
    const run = await runEngine({
      playbook: fleetPlaybook(3, ['serial: 1']),
      pipeline: twoPhases(
        [scriptedTask('version_check', log)],
        [
          scriptedTask('backup', log, () => ({ effect: noteOthers(seen, () => live) })),
          scriptedTask('swap', log),
        ],
      ),
      observe: (running) => {
        live = running;
      },
    });
    expect(seen.get('host1')).toEqual({ closed: [], released: [] });
    expect(seen.get('host2')).toEqual({ closed: ['host1'], released: ['host1'] });
    expect(seen.get('host3')).toEqual({ closed: ['host1', 'host2'], released: ['host1', 'host2'] });
    // Each released once, every connection closed by the end, every host in the recap.
    expect(run.locksReleased).toEqual(['host1', 'host2', 'host3']);
    expect([...run.transports.values()].every((t) => t.closed)).toBe(true);
    expect(Object.keys(run.result.recap)).toEqual(['host1', 'host2', 'host3']);
  });

  it('lets a host that failed in the prepare phase go before the rolling phase begins', async () => {
    const log = new TaskLog();
    const seen = new Map<string, Seen>();
    let live: LiveRun | undefined;
    const run = await runEngine({
      playbook: fleetPlaybook(2, ['serial: 1', 'max_fail_percentage: 100']),
      pipeline: twoPhases(
        [
          scriptedTask('version_check', log, (host) =>
            host === 'host1' ? { applyFails: 'broke' } : undefined,
          ),
        ],
        [scriptedTask('backup', log, () => ({ effect: noteOthers(seen, () => live) }))],
      ),
      observe: (running) => {
        live = running;
      },
    });
    expect(seen.get('host2')).toEqual({ closed: ['host1'], released: ['host1'] });
    expect(log.of('apply')).toEqual(['host1 version_check', 'host2 version_check', 'host2 backup']);
    expect(run.locksReleased).toEqual(['host1', 'host2']);
  });

  it('lets go of what a finished host’s tasks held for each other (open backup, fence, guard); the backup’s path stays', async () => {
    const log = new TaskLog();
    const closed: string[] = [];
    const runs = new Map<string, HostRun>();
    const fence = { abort: () => closed.push('fence') } as unknown as OldSideFence;
    const guard = { close: () => closed.push('guard') } as unknown as NewSideGuard;
    const sealed = {
      path: '/backups/host1/b.mpbak',
      items: 3,
      valueBytes: 30,
      deltaMs: 1,
      summary: 's',
      fence,
    };
    const run = await runEngine({
      playbook: fleetPlaybook(1),
      pipeline: twoPhases(
        [],
        [
          scriptedTask('backup', log, () => ({
            effect: (ctx) => {
              runs.set(ctx.host.name, ctx.run);
              ctx.run.backup.open = {
                finish: async () => sealed,
                abort: async () => {
                  closed.push('open backup');
                },
              };
              ctx.run.backup.sealed = sealed;
            },
          })),
          scriptedTask('restore', log, () => ({
            effect: (ctx) => {
              ctx.run.restore.restored = { stored: 3, keptNewer: 0, from: sealed };
              ctx.run.restore.guard = guard;
            },
          })),
        ],
      ),
    });
    const host1 = runs.get('host1');
    expect(host1?.backup.open).toBeUndefined();
    expect(host1?.backup.sealed).toEqual({
      path: '/backups/host1/b.mpbak',
      items: 3,
      valueBytes: 30,
      deltaMs: 1,
      summary: 's',
    });
    expect(host1?.restore.restored?.from.fence).toBeUndefined();
    expect(host1?.restore.guard).toBeUndefined();
    // A sealed backup is not aborted (its file stays); the fence and guard are closed.
    expect(closed).toContain('guard');
    expect(closed).toContain('fence');
    expect(closed).not.toContain('open backup');
    expect(run.result.recap.host1).toMatchObject({ changed: 2, failed: 0 });
  });
});
