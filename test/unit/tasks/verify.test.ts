import { describe, expect, it } from 'vitest';
import { TaskFailed } from '../../../src/errors.js';
import { verify } from '../../../src/tasks/verify.js';
import { RecordingTransport } from '../../support/recording-transport.js';
import { fixturePlaybook, hostFacts, taskContext } from '../../support/task-context.js';

// verify's plan is its check. Against predicted facts (--check, nothing applied
// yet) it compares no sample and measures nothing: it predicts the settings gate
// from memcached.args and what the old instance answers to `stats settings`.

const onTarget = () => hostFacts({ runningVersion: '1.6.38', currentLink: '1.6.38' });
const plannedBackup = { items: 12_345, bytes: 5 * 1024 * 1024 };

/** The old instance, still serving in --check. */
const oldInstance = (settings: Record<string, string | number> = {}) =>
  new RecordingTransport({
    tcp: {
      11211: {
        version: '1.6.18',
        settings: {
          tcpport: 11211,
          maxbytes: 64 * 1024 * 1024,
          binding_protocol: 'auto-negotiate',
          ...settings,
        },
      },
    },
  });

describe('verify plan', () => {
  it('nothing answering fails, naming the port and the expected version', async () => {
    const f = taskContext();
    const failure = await verify.plan(f.ctx, hostFacts({ runningVersion: null })).catch((e) => e);
    expect(failure).toBeInstanceOf(TaskFailed);
    expect(failure).toMatchObject({ host: 'cache-1', task: 'verify' });
    expect(failure.detail).toBe(
      'nothing answers on port 11211; expected 1.6.38 — check the service and its log on the host',
    );
    expect(f.transport.tcp).toEqual([]);
  });

  it('another version answering fails: is another instance bound to the port?', async () => {
    const f = taskContext();
    const failure = await verify.plan(f.ctx, hostFacts({ currentLink: '1.6.38' })).catch((e) => e);
    expect(failure).toBeInstanceOf(TaskFailed);
    expect(failure.detail).toBe(
      'port 11211 answers 1.6.18, expected 1.6.38 — is another instance bound to the port?',
    );
  });

  it('current naming another build fails', async () => {
    const f = taskContext();
    const failure = await verify.plan(f.ctx, hostFacts({ runningVersion: '1.6.38' })).catch((e) => e);
    expect(failure).toBeInstanceOf(TaskFailed);
    expect(failure.detail).toBe('/opt/memcached/current points at 1.6.18, expected 1.6.38');
  });

  it('on target after a planned backup: will compare the sample, settings predicted from the old instance', async () => {
    const transport = oldInstance();
    const f = taskContext({
      transport,
      run: { plannedBackup, swapChoice: { path: 'cold', reason: 'swap.mode: cold' } },
    });
    const facts = onTarget();
    const plan = await verify.plan(f.ctx, facts);
    expect(plan.status).toBe('ok');
    expect(plan.detail).toMatch(
      /^1\.6\.38 answers on port 11211; will compare 1000 restored items with the backup; gates: settings predicted unchanged for clients/,
    );
    expect(plan.facts).toBe(facts);
    expect(f.gates.map((g) => [g.gate, g.status])).toEqual([
      ['protocol', 'skipped'],
      ['settings', 'passed'],
      ['performance', 'skipped'],
    ]);
    // Read-only: a version and stats settings, no load, no key written, no command.
    expect(transport.memcachedRequests).toEqual(['version', 'stats settings']);
    expect(f.runWrites()).toEqual([]);
    expect(transport.commands).toEqual([]);
  });

  it('verify.sample 0: no sample promised', async () => {
    const transport = oldInstance();
    const f = taskContext({
      playbook: fixturePlaybook({ verify: { sample: 0 } }),
      transport,
      run: { plannedBackup },
    });
    const plan = await verify.plan(f.ctx, onTarget());
    expect(plan.detail).not.toContain('will compare');
  });

  it('args that drop the text protocol fail the protocol gate already in --check', async () => {
    const transport = oldInstance();
    const f = taskContext({
      playbook: fixturePlaybook({
        defaults: { memcached: { args: ['-l', '127.0.0.1', '-m', '64', '-B', 'binary'] } },
      }),
      transport,
      run: { plannedBackup, swapChoice: { path: 'cold', reason: 'swap.mode: cold' } },
    });
    const failure = await verify.plan(f.ctx, onTarget()).catch((e) => e);
    expect(failure).toBeInstanceOf(TaskFailed);
    expect(failure.detail).toMatch(
      /^protocol gate would fail: the text protocol and the meta protocol would stop answering/,
    );
    expect(f.gates.find((g) => g.gate === 'protocol')?.status).toBe('failed');
  });

  it('after a restore in this run: decides what apply proves (sample, gates, the own-reads note) and touches nothing itself', async () => {
    const transport = oldInstance();
    const from = { path: '/b/host1/x.mpbak', items: 12_345, valueBytes: 99, deltaMs: 1, summary: '' };
    const gates = { unavailable: 'nothing answered on port 11211 before the swap' };
    const f = taskContext({
      transport,
      run: { restored: { stored: 12_345, keptNewer: 0, from }, oldInstance: gates },
    });
    const plan = await verify.plan(f.ctx, onTarget());
    expect(plan).toMatchObject({
      status: 'ok',
      proves: true,
      decision: { sample: from, gates, noteOwnReads: true },
    });
    expect(plan.detail).toBe(
      '1.6.38 answers on port 11211; compare 1000 sampled items with /b/host1/x.mpbak; hold it to the old instance (gates)',
    );
    // The plan decides; the sample, the load and the note are apply's.
    expect(transport.memcachedRequests).toEqual([]);
    expect(transport.commands).toEqual([]);
    expect(f.gates).toEqual([]);
    expect(f.runWrites()).toEqual([]);
  });

  it('nothing swapped in this run: the sample and the gates are skipped, memcached not dialled', async () => {
    const f = taskContext();
    const plan = await verify.plan(f.ctx, onTarget());
    expect(plan).toMatchObject({ status: 'ok', detail: '1.6.38 answers on port 11211' });
    expect(f.gates.map((g) => [g.gate, g.status])).toEqual([
      ['protocol', 'skipped'],
      ['settings', 'skipped'],
      ['performance', 'skipped'],
    ]);
    expect(f.gates[0]?.detail).toBe('not swapped in this run: nothing to compare');
    expect(f.transport.tcp).toEqual([]);
  });

  it('memplay restore: no gates at all', async () => {
    const f = taskContext({ job: { kind: 'restore', from: '/b' } });
    const plan = await verify.plan(f.ctx, onTarget());
    expect(plan.detail).toBe('1.6.38 answers on port 11211');
    expect(f.gates).toEqual([]);
  });
});
