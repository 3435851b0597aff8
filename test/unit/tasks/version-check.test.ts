import { describe, expect, it } from 'vitest';
import { TaskFailed } from '../../../src/errors.js';
import { versionCheck } from '../../../src/tasks/version-check.js';
import { fixturePlaybook, hostFacts, taskContext } from '../../support/task-context.js';

// version_check reads nothing beyond the facts: every fixture also asserts it ran no command.

describe('version_check plan', () => {
  it('a host already on the target is ok and says so', async () => {
    const f = taskContext();
    const facts = hostFacts({
      runningVersion: '1.6.38',
      currentLink: '1.6.38',
      builds: [{ dir: '1.6.38', reportedVersion: '1.6.38', madeByMemplay: true }],
    });
    const plan = await versionCheck.plan(f.ctx, facts);
    expect(plan.status).toBe('ok');
    expect(plan.detail).toBe('running 1.6.38; builds: 1.6.38; already the target');
    expect(plan.facts).toBe(facts);
    expect(f.transport.commands).toEqual([]);
    expect(f.transport.tcp).toEqual([]);
    expect(f.runWrites()).toEqual([]);
  });

  it('a host on an older version names the target and the running pid', async () => {
    const f = taskContext();
    const facts = hostFacts({
      pid: 4242,
      commandLine: ['/opt/memcached/current/bin/memcached', '-p', '11211', '-l', '127.0.0.1', '-m', '64'],
    });
    const plan = await versionCheck.plan(f.ctx, facts);
    expect(plan).toEqual({
      status: 'ok',
      detail: 'running 1.6.18 (pid 4242); builds: 1.6.18; target 1.6.38',
      facts,
    });
    expect(f.transport.commands).toEqual([]);
  });

  it('nothing answering is no failure: the detail says the port', async () => {
    const f = taskContext();
    const plan = await versionCheck.plan(f.ctx, hostFacts({ runningVersion: null }));
    expect(plan.status).toBe('ok');
    expect(plan.detail).toBe('nothing answers on port 11211; builds: 1.6.18; target 1.6.38');
  });

  it('rollback to the build previous names: ok, goal named as previous', async () => {
    const f = taskContext({
      job: { kind: 'rollback' },
      target: { ...fixturePlaybook().target, version: '1.6.18' },
    });
    const facts = hostFacts({
      runningVersion: '1.6.38',
      currentLink: '1.6.38',
      previousLink: '1.6.18',
      builds: [
        { dir: '1.6.18', reportedVersion: '1.6.18', madeByMemplay: true },
        { dir: '1.6.38', reportedVersion: '1.6.38', madeByMemplay: true },
      ],
    });
    const plan = await versionCheck.plan(f.ctx, facts);
    expect(plan.status).toBe('ok');
    expect(plan.detail).toBe('running 1.6.38; builds: 1.6.18, 1.6.38; roll back to 1.6.18 (previous)');
    expect(f.transport.commands).toEqual([]);
  });

  it('rollback without a previous link fails: no apply has swapped this host', async () => {
    const f = taskContext({ job: { kind: 'rollback' } });
    const failure = await versionCheck.plan(f.ctx, hostFacts({ previousLink: null })).catch((e) => e);
    expect(failure).toBeInstanceOf(TaskFailed);
    expect(failure).toMatchObject({ host: 'cache-1', task: 'version_check' });
    expect(failure.detail).toContain('no /opt/memcached/previous link: no apply has swapped this host');
    expect(f.transport.commands).toEqual([]);
  });

  it('rollback to a previous build that does not run fails and says how to rebuild it', async () => {
    const f = taskContext({ job: { kind: 'rollback' } });
    const facts = hostFacts({
      runningVersion: '1.6.38',
      currentLink: '1.6.38',
      previousLink: '1.6.18',
      builds: [
        { dir: '1.6.18', reportedVersion: null, madeByMemplay: true },
        { dir: '1.6.38', reportedVersion: '1.6.38', madeByMemplay: true },
      ],
    });
    const failure = await versionCheck.plan(f.ctx, facts).catch((e) => e);
    expect(failure).toBeInstanceOf(TaskFailed);
    expect(failure.detail).toContain('/opt/memcached/previous names 1.6.18');
    expect(failure.detail).toContain('rebuild it with memplay apply on a playbook targeting 1.6.18');
  });

  it('a memcached the pidfile names on another port than the playbook fails with both ports', async () => {
    const f = taskContext();
    const facts = hostFacts({
      runningVersion: null,
      pid: 4242,
      commandLine: ['/opt/memcached/current/bin/memcached', '-p', '11212', '-l', '127.0.0.1'],
    });
    const failure = await versionCheck.plan(f.ctx, facts).catch((e) => e);
    expect(failure).toBeInstanceOf(TaskFailed);
    expect(failure).toMatchObject({ host: 'cache-1', task: 'version_check' });
    expect(failure.detail).toContain('the pidfile /run/memcached/memcached.pid names pid 4242');
    expect(failure.detail).toContain('listening on port 11212, but memcached.port is 11211');
    expect(failure.detail).toContain('nothing was changed');
    expect(f.transport.commands).toEqual([]);
  });

  it('a took-over lock is named in the detail', async () => {
    const f = taskContext({
      run: { lockTakenOverFrom: 'pid 77 on ctl-1' },
    });
    const plan = await versionCheck.plan(f.ctx, hostFacts());
    expect(plan.detail).toMatch(/; took over memplay's lock left by a run that is gone \(pid 77 on ctl-1\)$/);
  });
});
