import { describe, expect, it } from 'vitest';
import { needsRollback, rollBack } from '../../../src/tasks/rollback.js';
import { newHostRun } from '../../../src/tasks/task.js';
import { taskContext } from '../../support/task-context.js';

// rollback has no plan (the engine runs it only after swap stopped the old
// instance, and it acts at once); what can be fixed without a host is when it is
// needed and the refusal when there is nothing to go back to, which touches nothing.

describe('rollback', () => {
  it('is needed only once swap stopped the old instance, in an upgrade or a rollback', () => {
    expect(needsRollback({ kind: 'upgrade' }, newHostRun())).toBe(false);
    expect(needsRollback({ kind: 'upgrade' }, { ...newHostRun(), swap: { stoppedAt: 1 } })).toBe(true);
    expect(needsRollback({ kind: 'rollback' }, { ...newHostRun(), swap: { stoppedAt: 1 } })).toBe(true);
    expect(needsRollback({ kind: 'backup' }, { ...newHostRun(), swap: { stoppedAt: 1 } })).toBe(false);
    expect(needsRollback({ kind: 'restore', from: '/b' }, { ...newHostRun(), swap: { stoppedAt: 1 } })).toBe(
      false,
    );
  });

  it('without a build current named before the swap: failed, the backup named, nothing run', async () => {
    const f = taskContext({
      run: {
        previousBuild: null,
        backupFile: { path: '/b/cache-1/x.mpbak', items: 1, valueBytes: 1, deltaMs: 0, summary: 's' },
      },
    });
    const outcome = await rollBack(f.ctx);
    expect(outcome).toEqual({
      status: 'failed',
      detail:
        'no build to roll back to (current named nothing before the swap) — start a build by hand. The backup is /b/cache-1/x.mpbak: memplay restore --from it once a build serves.',
    });
    expect(f.transport.commands).toEqual([]);
    expect(f.transport.tcp).toEqual([]);
  });

  it('when current already named the target before the swap: nothing older to go back to', async () => {
    const f = taskContext({ run: { previousBuild: '1.6.38' } });
    const outcome = await rollBack(f.ctx);
    expect(outcome.status).toBe('failed');
    expect(outcome.detail).toBe(
      'no build to roll back to (current named 1.6.38 before the swap) — start a build by hand.',
    );
    expect(f.transport.commands).toEqual([]);
  });
});
