import { describe, expect, it } from 'vitest';
import { commandTask } from '../../../src/tasks/command.js';
import { hostFacts, taskContext } from '../../support/task-context.js';

// A playbook's own step plans the command line it would run, facts in the
// environment, each word quoted by `sh`; `when: upgrading` looks at the host as
// the run found it. The plan runs nothing.

const drain = {
  kind: 'command' as const,
  name: 'drain',
  argv: ['/usr/local/bin/lb-drain', '--wait', '30 s'],
  when: 'upgrading' as const,
};
const onTarget = hostFacts({ runningVersion: '1.6.38', currentLink: '1.6.38' });

describe('command step plan', () => {
  it('when: upgrading on a host that ran an older version: changed, the exact command line', async () => {
    const f = taskContext({ run: { startFacts: hostFacts() } });
    const plan = await commandTask(drain, 'rolling').plan(f.ctx, hostFacts());
    expect(plan.status).toBe('changed');
    expect(plan.detail).toBe(
      "run env -- MEMPLAY_HOST=cache-1 MEMPLAY_ADDRESS=10.0.0.1 MEMPLAY_PORT=11211 MEMPLAY_PREFIX=/opt/memcached MEMPLAY_TARGET_VERSION=1.6.38 MEMPLAY_RUNNING_VERSION=1.6.18 MEMPLAY_VERSION_BEFORE=1.6.18 MEMPLAY_PHASE=rolling MEMPLAY_STEP=drain /usr/local/bin/lb-drain --wait '30 s'",
    );
    expect(f.runWrites()).toEqual([]);
    expect(f.transport.commands).toEqual([]);
  });

  it('when: upgrading on a host already serving the target from current: ok, not run', async () => {
    const f = taskContext({ run: { startFacts: onTarget } });
    const plan = await commandTask(drain, 'rolling').plan(f.ctx, onTarget);
    expect(plan).toEqual({
      status: 'ok',
      detail: 'not run: cache-1 already ran 1.6.38 (when: upgrading)',
      facts: onTarget,
    });
    expect(f.transport.commands).toEqual([]);
  });

  it('when: upgrading with the target running but current elsewhere counts as upgrading', async () => {
    const start = hostFacts({ runningVersion: '1.6.38', currentLink: '1.6.18' });
    const f = taskContext({ run: { startFacts: start } });
    expect((await commandTask(drain, 'rolling').plan(f.ctx, start)).status).toBe('changed');
  });

  it('when: always runs on a host already on the target, with what runs now in the environment', async () => {
    const f = taskContext({ run: { startFacts: onTarget } });
    const plan = await commandTask({ ...drain, when: 'always' }, 'prepare').plan(f.ctx, onTarget);
    expect(plan.status).toBe('changed');
    expect(plan.detail).toContain(
      'MEMPLAY_RUNNING_VERSION=1.6.38 MEMPLAY_VERSION_BEFORE=1.6.38 MEMPLAY_PHASE=prepare',
    );
  });

  it('a value with shell syntax in it stays one quoted word', async () => {
    const f = taskContext({ run: { startFacts: hostFacts() } });
    const plan = await commandTask(drain, 'rolling').plan(
      f.ctx,
      hostFacts({ runningVersion: '1.6.18; reboot' }),
    );
    expect(plan.detail).toContain("'MEMPLAY_RUNNING_VERSION=1.6.18; reboot'");
  });
});
