import { describe, expect, it } from 'vitest';
import { TaskFailed } from '../../../src/errors.js';
import { hostAsRun } from '../../../src/facts/carried-args.js';
import type { HostFacts } from '../../../src/facts/host-facts.js';
import type { PackageInstall } from '../../../src/facts/package-install.js';
import { backup } from '../../../src/tasks/backup.js';
import { swap } from '../../../src/tasks/swap.js';
import type { Plan } from '../../../src/tasks/task.js';
import { versionCheck } from '../../../src/tasks/version-check.js';
import { debianPackageInstall } from '../../support/package-install.js';
import { answers, RecordingTransport } from '../../support/recording-transport.js';
import { fixturePlaybook, hostFacts, taskContext } from '../../support/task-context.js';

// A host whose memcached the distribution's package installed, adopted with
// memcached.args left out: what version_check says of it, where swap takes it
// (to a build, and for `memplay rollback` back to the package) and what
// backup refuses to skip.

const install: PackageInstall = { ...debianPackageInstall, autoUpdates: 'unattended-upgrades' };
const dropIn = '/etc/systemd/system/memcached.service.d/memplay.conf';
const packagePlaybook = () =>
  fixturePlaybook({
    defaults: { memcached: { args: undefined, service: { manager: 'systemd', unit: 'memcached.service' } } },
  });
/** The package's memcached serving, as the unit started it; no build of memplay's in `current`. */
function onPackage(overrides: Partial<HostFacts> = {}): HostFacts {
  return hostFacts({
    currentLink: null,
    builds: [{ dir: '1.6.38', reportedVersion: '1.6.38', madeByMemplay: true }],
    pid: 812,
    commandLine: ['/usr/bin/memcached', '-m', '64', '-p', '11211', '-u', 'memcache', '-l', '127.0.0.1'],
    packageInstall: install,
    ...overrides,
  });
}
/** The host as the engine hands it to tasks: the running instance's arguments carried over. */
const runHost = (facts: HostFacts) => {
  const playbook = packagePlaybook();
  return { ...playbook, hosts: [hostAsRun(playbook.hosts[0]!, facts)] };
};

describe('version_check on a package host', () => {
  it('names the package install, the arguments carried over, and warns that the package is not held', async () => {
    const facts = onPackage();
    const f = taskContext({ playbook: runHost(facts) });
    const plan = await versionCheck.plan(f.ctx, facts);
    expect(plan.status).toBe('ok');
    expect(plan.detail).toBe(
      'running 1.6.18 (pid 812); builds: 1.6.38; target 1.6.38; package install: memcached 1.6.18 from the dpkg ' +
        'package memcached 1.6.18-1+deb12u1 (/usr/bin/memcached), unit memcached.service (/lib/systemd/system/memcached.service: ' +
        'ExecStart=/usr/share/memcached/scripts/systemd-memcached-wrapper /etc/memcached.conf), settings in /etc/memcached.conf; ' +
        'memcached.args carried over from the running instance: -m 64 -u memcache -l 127.0.0.1; WARNING: the memcached package ' +
        "is not held: upgrading it replaces /usr/bin/memcached and restarts memcached.service behind memplay's back, emptying " +
        'the cache (unattended-upgrades is enabled and may do that unattended) — hold it: apt-mark hold memcached',
    );
    expect(f.transport.commands).toEqual([]);
  });

  it('a held package gets no warning', async () => {
    const facts = onPackage({ packageInstall: { ...install, held: true } });
    const plan = await versionCheck.plan(taskContext({ playbook: runHost(facts) }).ctx, facts);
    expect(plan.detail).not.toContain('WARNING');
  });

  it('memcached.args left out and nothing running to carry them from: refused, naming the config file', async () => {
    const facts = onPackage({ runningVersion: null, pid: null, commandLine: null });
    const f = taskContext({ playbook: runHost(facts) });
    const planned = versionCheck.plan(f.ctx, facts);
    await expect(planned).rejects.toThrow(TaskFailed);
    await expect(planned).rejects.toThrow(
      "memcached.args is left out, so memplay carries over the running instance's arguments, but none runs to read them from — start memcached.service, or write memcached.args (the package's settings are in /etc/memcached.conf)",
    );
  });

  it('memplay rollback with no previous build aims at the package: ok, the goal named', async () => {
    const facts = onPackage({ runningVersion: '1.6.38', currentLink: '1.6.38' });
    const f = taskContext({
      playbook: runHost(facts),
      job: { kind: 'rollback' },
      target: { ...packagePlaybook().target, version: '1.6.18' },
    });
    const plan = await versionCheck.plan(f.ctx, facts);
    expect(plan.detail).toContain('roll back to 1.6.18 (the memcached package)');
  });
});

describe('swap on a package host', () => {
  it('an upgrade writes the drop-in with the carried-over arguments, and records the package as where a failure returns', async () => {
    const facts = onPackage();
    const transport = new RecordingTransport({ run: [answers(/^cat -- /, '')] });
    const f = taskContext({ playbook: runHost(facts), transport });
    const plan = await swap.plan(f.ctx, facts);
    expect(plan.status).toBe('changed');
    expect(plan.detail).toContain(`write drop-in ${dropIn}`);
    expect(plan.decision?.fromPackage).toBe(install);
    expect(plan.decision?.toPackage).toBeUndefined();
    expect(f.runWrites()).toEqual([]);
  });

  it('memplay rollback: stop, remove the drop-in, start the package binary, remove current', async () => {
    const facts = onPackage({ runningVersion: '1.6.38', currentLink: '1.6.38', pid: 900 });
    const transport = new RecordingTransport({ run: [answers(/^cat -- /, '[Service]\nExecStart=\n')] });
    const f = taskContext({
      playbook: runHost(facts),
      transport,
      job: { kind: 'rollback' },
      target: { ...packagePlaybook().target, version: '1.6.18' },
    });
    const plan: Plan<unknown> = await swap.plan(f.ctx, facts);
    expect(plan.status).toBe('changed');
    expect(plan.detail).toBe(
      `stop 1.6.38 (pid 900), remove drop-in ${dropIn} and daemon-reload, restart memcached.service on the package's ` +
        '/usr/bin/memcached (1.6.18), remove /opt/memcached/current; serving 1.6.18 on port 11211',
    );
    expect(plan.status === 'changed' && plan.actions?.map((a) => a.kind)).toEqual(['stop', 'start']);
    expect(plan.facts).toMatchObject({ currentLink: null, runningVersion: '1.6.18' });
    expect((plan.decision as { toPackage?: PackageInstall }).toPackage).toBe(install);
    // Another version serves: a return is due whatever the drop-in says, so it is not read.
    expect(transport.commands).toEqual([]);
  });

  it('memplay rollback once the package serves again without the drop-in: ok, nothing to do', async () => {
    const facts = onPackage();
    const transport = new RecordingTransport({ run: [answers(/^cat -- /, '')] });
    const f = taskContext({
      playbook: runHost(facts),
      transport,
      job: { kind: 'rollback' },
      target: { ...packagePlaybook().target, version: '1.6.18' },
    });
    const plan = await swap.plan(f.ctx, facts);
    expect(plan).toMatchObject({
      status: 'ok',
      detail: '1.6.18 from the memcached package serving on port 11211',
    });
  });
});

describe('backup on a package host', () => {
  it('the package already at the target version is still backed up: swap restarts it onto the build', async () => {
    const facts = onPackage({
      runningVersion: '1.6.38',
      packageInstall: { ...install, binaryVersion: '1.6.38' },
    });
    const f = taskContext({ playbook: runHost(facts) });
    // Past the "already running" skip, the plan reads memcached's stats (unanswered here).
    await expect(backup.plan(f.ctx, facts)).rejects.toThrow('port 11211 stopped answering stats');
    // A build of memplay's at the target in `current`: nothing to carry.
    const built = await backup.plan(
      taskContext().ctx,
      hostFacts({ runningVersion: '1.6.38', currentLink: '1.6.38' }),
    );
    expect(built).toMatchObject({ status: 'ok', detail: 'already running 1.6.38: nothing to back up' });
  });
});
