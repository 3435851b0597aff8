import { describe, expect, it } from 'vitest';
import { TaskFailed } from '../../../src/errors.js';
import type { HostFacts } from '../../../src/facts/host-facts.js';
import { swap } from '../../../src/tasks/swap.js';
import type { Plan, PlanAction } from '../../../src/tasks/task.js';
import { answers, type FakeMemcached, RecordingTransport } from '../../support/recording-transport.js';
import { fixturePlaybook, hostFacts, taskContext } from '../../support/task-context.js';

// swap's plan picks the path (swap-path.ts) from the playbook, the facts and what
// the host says: warm-restart facts (a probe script and `stats settings`), room
// and a free side port for a handover, the systemd drop-in as it is. It lists
// stop, repoint and start with the port and the out-of-service estimate.

const MiB = 1024 * 1024;
const memoryFile = '/dev/shm/memcached.mem';
const warmArgs = ['-l', '127.0.0.1', '-m', '64', '-e', memoryFile];
const built = [
  { dir: '1.6.18', reportedVersion: '1.6.18', madeByMemplay: true },
  { dir: '1.6.38', reportedVersion: '1.6.38', madeByMemplay: true },
];
const runningBinary = '/opt/memcached/1.6.18/bin/memcached';

/** 1.6.18 serving from current, with the target built beside it. */
function ready(overrides: Partial<HostFacts> = {}): HostFacts {
  return hostFacts({ builds: built, pid: 4242, ...overrides });
}

function actionsOf(plan: Plan<unknown>): readonly PlanAction[] {
  expect(plan.status).toBe('changed');
  return plan.status === 'changed' ? (plan.actions ?? []) : [];
}

/** The actions without their words: kind, version, port, estimate. */
function shapes(plan: Plan<unknown>) {
  return actionsOf(plan).map(({ text: _text, ...rest }) => rest);
}

const warmProbe = /memplay-warm-probe/;
const roomProbe = /memplay-handover-probe/;
const plannedBackup = { items: 100_000, bytes: 100 * MiB };

function memcached(settings: Record<string, string>): FakeMemcached {
  return { version: '1.6.18', settings };
}

describe('swap plan', () => {
  it('the target serving from current: ok, nothing asked', async () => {
    const f = taskContext();
    const facts = ready({ runningVersion: '1.6.38', currentLink: '1.6.38' });
    const plan = await swap.plan(f.ctx, facts);
    expect(plan).toEqual({ status: 'ok', detail: '1.6.38 serving on port 11211', facts });
    expect(f.runWrites()).toEqual([]);
    expect(f.transport.commands).toEqual([]);
    expect(f.transport.tcp).toEqual([]);
  });

  it('no working build of the target fails: run the build task first', async () => {
    const f = taskContext();
    const failure = await swap.plan(f.ctx, hostFacts()).catch((e) => e);
    expect(failure).toBeInstanceOf(TaskFailed);
    expect(failure.detail).toBe(
      'no working build of 1.6.38 in /opt/memcached/1.6.38 — run the build task first',
    );
  });

  it('swap.mode cold: stop, repoint, start in that order, with the port and the estimate', async () => {
    const f = taskContext({ playbook: fixturePlaybook({ swap: { mode: 'cold' } }), run: { plannedBackup } });
    const plan = await swap.plan(f.ctx, ready());
    expect(plan.decision).toEqual({ choice: { path: 'cold', reason: 'swap.mode: cold' } });
    expect(f.runWrites()).toEqual([]);
    expect(shapes(plan)).toEqual([
      { kind: 'stop', version: '1.6.18', port: 11211, out_of_service_estimate_ms: 700 },
      { kind: 'repoint', version: '1.6.38' },
      { kind: 'start', version: '1.6.38', port: 11211 },
    ]);
    expect(actionsOf(plan).map((a) => a.text)).toEqual([
      'stop 1.6.18 (pid 4242) on port 11211: out of service until restored; about 0.7 s for 100.0 MiB (estimate)',
      'repoint current 1.6.18 → 1.6.38',
      'restart on port 11211 as 1.6.38',
    ]);
    expect(plan.detail).toBe(
      'stop 1.6.18 (pid 4242), repoint current 1.6.18 → 1.6.38, start 1.6.38 on port 11211 (cold: swap.mode: cold)',
    );
    // The host after apply: the target serving from current, its pid not known yet.
    expect(plan.facts).toMatchObject({ currentLink: '1.6.38', runningVersion: '1.6.38', pid: null });
    expect(f.transport.commands).toEqual([]);
    expect(f.transport.tcp).toEqual([]);
  });

  it('nothing running: no stop, only repoint and start', async () => {
    const f = taskContext({ playbook: fixturePlaybook({ swap: { mode: 'cold' } }) });
    const plan = await swap.plan(f.ctx, ready({ runningVersion: null, pid: null }));
    expect(shapes(plan).map((a) => a.kind)).toEqual(['repoint', 'start']);
    expect(actionsOf(plan)[1]?.text).toBe('start on port 11211 as 1.6.38');
  });

  it('warm (auto): pidfile manager, the running -e memory file and the same memory settings', async () => {
    const transport = new RecordingTransport({
      run: [
        answers(warmProbe, [runningBinary, '-p', '11211', ...warmArgs].map((a) => `arg\t${a}\n`).join('')),
      ],
      tcp: { 11211: memcached({ memory_file: memoryFile }) },
    });
    const f = taskContext({
      playbook: fixturePlaybook({ defaults: { memcached: { args: warmArgs } } }),
      transport,
      run: { plannedBackup },
    });
    const plan = await swap.plan(f.ctx, ready());
    expect(plan.detail).toContain('warm restart: SIGUSR1 1.6.18 (pid 4242), repoint current 1.6.18 → 1.6.38');
    expect(plan.detail).toContain(`(memory file ${memoryFile}, memory settings unchanged)`);
    expect(plan.detail).toContain('cold from the backup if it falls short');
    expect(shapes(plan)).toEqual([
      { kind: 'stop', version: '1.6.18', port: 11211, out_of_service_estimate_ms: 304 },
      { kind: 'repoint', version: '1.6.38' },
      { kind: 'start', version: '1.6.38', port: 11211 },
    ]);
    expect(actionsOf(plan)[0]?.text).toContain(
      `SIGUSR1 1.6.18 (pid 4242) on port 11211: it writes its items to ${memoryFile}`,
    );
    expect(transport.commands).toHaveLength(1);
    expect(transport.commands[0]).toMatch(
      /^sh -c .* memplay-warm-probe \/run\/memcached\/memcached\.pid \/dev\/shm\/memcached\.mem$/s,
    );
    expect(transport.memcachedRequests).toEqual(['stats settings']);
  });

  it('auto with a different -m than the running instance: cold, the difference named', async () => {
    const running = [runningBinary, '-p', '11211', '-l', '127.0.0.1', '-m', '128', '-e', memoryFile];
    const transport = new RecordingTransport({
      run: [answers(warmProbe, running.map((a) => `arg\t${a}\n`).join(''))],
      tcp: { 11211: memcached({ memory_file: memoryFile }) },
    });
    const f = taskContext({
      playbook: fixturePlaybook({ defaults: { memcached: { args: warmArgs } } }),
      transport,
      run: { plannedBackup },
    });
    const plan = await swap.plan(f.ctx, ready());
    expect(plan.detail).toMatch(/\(cold: memory settings differ: .*-m.*\)$/);
    expect(shapes(plan)[0]).toMatchObject({ kind: 'stop', out_of_service_estimate_ms: 700 });
  });

  it('auto without a backup planned in the run: cold, and no warm probe is run', async () => {
    const f = taskContext({ playbook: fixturePlaybook({ defaults: { memcached: { args: warmArgs } } }) });
    const plan = await swap.plan(f.ctx, ready());
    expect(plan.detail).toMatch(/\(cold: no backup in this run to prove a warm restart against\)$/);
    expect(f.transport.commands).toEqual([]);
  });

  it('systemd: cold with the reason, and the unit drop-in to write', async () => {
    const transport = new RecordingTransport({ run: [answers(/^cat -- /, '')] });
    const f = taskContext({
      playbook: fixturePlaybook({
        defaults: {
          memcached: { args: warmArgs, service: { manager: 'systemd', unit: 'memcached.service' } },
        },
      }),
      transport,
      run: { plannedBackup },
    });
    const plan = await swap.plan(f.ctx, ready());
    expect(plan.detail).toContain(
      'write drop-in /etc/systemd/system/memcached.service.d/memplay.conf (ExecStart → /opt/memcached/current/bin/memcached) and daemon-reload, ',
    );
    expect(plan.detail).toContain('(cold: service memcached.service is run by systemd');
    expect(shapes(plan).map((a) => a.kind)).toEqual(['stop', 'repoint', 'start']);
    expect(transport.commands).toEqual([
      'cat -- /etc/systemd/system/memcached.service.d/memplay.conf 2>/dev/null || true',
    ]);
  });

  it('memplay rollback always restarts cold', async () => {
    const f = taskContext({
      playbook: fixturePlaybook({ defaults: { memcached: { args: warmArgs } } }),
      job: { kind: 'rollback' },
      run: { plannedBackup },
    });
    const plan = await swap.plan(f.ctx, ready());
    expect(plan.detail).toMatch(/\(cold: memplay rollback always restarts cold\)$/);
    expect(f.transport.commands).toEqual([]);
  });

  describe('handover', () => {
    const handover = () => fixturePlaybook({ swap: { mode: 'handover' } });
    const handoverFile = '/dev/shm/memcached-11211.mem';
    const room = (type: string, freeBytes: number) =>
      answers(roomProbe, `mem\t${4096 * MiB}\nfree\t${freeBytes}\ntype\t${type}\n`);

    it('with room and a free side port: start beside, stop, repoint, restart warm', async () => {
      const transport = new RecordingTransport({ run: [room('tmpfs', 1024 * MiB)] });
      const f = taskContext({ playbook: handover(), transport, run: { plannedBackup } });
      const plan = await swap.plan(f.ctx, ready());
      expect(shapes(plan)).toEqual([
        { kind: 'start', version: '1.6.38', port: 12211 },
        { kind: 'stop', version: '1.6.18', port: 11211, out_of_service_estimate_ms: 324 },
        { kind: 'repoint', version: '1.6.38' },
        { kind: 'start', version: '1.6.38', port: 11211 },
      ]);
      expect(plan.detail).toContain(`handover: start 1.6.38 beside 1.6.18 on port 12211`);
      expect(plan.detail).toContain(`restart 1.6.38 warm on port 11211 from ${handoverFile}`);
      expect(transport.commands).toHaveLength(1);
      expect(transport.commands[0]).toMatch(
        /memplay-handover-probe \/dev\/shm \/dev\/shm\/memcached-11211\.mem$/,
      );
      // The first candidate refused: it is the side port.
      expect(transport.portsDialled).toEqual([12211]);
    });

    it('memcached 1.5.22 has no change stream to follow: the plan fails before anything is probed', async () => {
      const f = taskContext({ playbook: handover(), run: { plannedBackup } });
      const failure = await swap.plan(f.ctx, ready({ runningVersion: '1.5.22' })).catch((e) => e);
      expect(failure).toBeInstanceOf(TaskFailed);
      expect(failure.detail).toBe(
        'swap.mode: handover: memcached 1.5.22 has no change stream memplay can follow (before 1.6.10), which a handover needs to catch the new build up. Use swap.mode: cold (or auto) for this host — nothing was changed',
      );
      expect(f.transport.commands).toEqual([]);
      expect(f.transport.tcp).toEqual([]);
    });

    it('no free side port fails the plan, nothing changed', async () => {
      const taken = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [12211 + i, 'open' as const]));
      const transport = new RecordingTransport({ run: [room('tmpfs', 1024 * MiB)], tcp: taken });
      const f = taskContext({ playbook: handover(), transport, run: { plannedBackup } });
      const failure = await swap.plan(f.ctx, ready()).catch((e) => e);
      expect(failure).toBeInstanceOf(TaskFailed);
      expect(failure.detail).toBe(
        'swap.mode: handover: no free port between 12211 and +1009 for the new build — nothing was changed',
      );
      expect(transport.portsDialled).toEqual(Array.from({ length: 10 }, (_, i) => 12211 + i));
    });

    it('no tmpfs room for a second copy fails the plan before any port is tried', async () => {
      const transport = new RecordingTransport({ run: [room('tmpfs', 16 * MiB)] });
      const f = taskContext({ playbook: handover(), transport, run: { plannedBackup } });
      const failure = await swap.plan(f.ctx, ready()).catch((e) => e);
      expect(failure).toBeInstanceOf(TaskFailed);
      expect(failure.detail).toBe(
        "swap.mode: handover: no room for a second copy of the cache: /dev/shm has 16.0 MiB free, the new instance's memory file needs 64.0 MiB (-m) — nothing was changed",
      );
      expect(transport.tcp).toEqual([]);
    });

    it('systemd cannot hand over: the plan fails and says to use cold or auto', async () => {
      const f = taskContext({
        playbook: fixturePlaybook({
          swap: { mode: 'handover' },
          defaults: { memcached: { service: { manager: 'systemd', unit: 'memcached.service' } } },
        }),
      });
      const failure = await swap.plan(f.ctx, ready()).catch((e) => e);
      expect(failure).toBeInstanceOf(TaskFailed);
      expect(failure.detail).toContain(
        'needs the pidfile manager. Use swap.mode: cold (or auto) for this host',
      );
      expect(f.transport.commands).toEqual([]);
    });
  });
});
