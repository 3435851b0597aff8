import { describe, expect, it } from 'vitest';
import { errorEvent } from '../../src/cli/report-error.js';
import type { Pipeline } from '../../src/engine/pipeline.js';
import { runPipeline } from '../../src/engine/run.js';
import { HostUnreachable, PlaybookError, UsageError } from '../../src/errors.js';
import { defaultBackupRetention } from '../../src/playbook/resolve.js';
import { backupsEvent } from '../../src/report/backups-view.js';
import { stampEvent } from '../../src/report/envelope.js';
import type { RunEvent } from '../../src/report/events.js';
import { factsEvent } from '../../src/report/facts-view.js';
import { hostListEvent } from '../../src/report/host-list.js';
import { jsonRenderer } from '../../src/report/json.js';
import { changed, TaskFailedWithFigures, type TaskModule } from '../../src/tasks/task.js';
import { versionCheck } from '../../src/tasks/version-check.js';
import type { Transport } from '../../src/transport/transport.js';
import { memplayVersion } from '../../src/version.js';
import { checkJsonLines, contractErrors, describedEvents } from '../e2e/event-contract.js';
import { head, resolveText } from '../support/playbook-helpers.js';

// schemas/events.schema.json against what memplay really prints: the engine's
// events through the same stamp and JSON renderer as `apply -o json -v`, the
// commands' own lines (facts, validate, error), and one sample of every event
// type the code declares, so neither side can grow without the other.

const runId = '5b0e6c1a-2f43-4d0b-9a57-0c3f7f0b8e21';

/** A host that answers the fact probe with 1.6.18 installed and nothing on the memcached port. */
function fakeTransport(hostName: string): Transport {
  return {
    hostName,
    run: async () => ({
      code: 0,
      stdout:
        'current\t1.6.18\nprevious\t\nbuild\t1.6.18\tmemcached 1.6.18\narch\tx86_64\nlibc\tglibc 2.36\nlibevent\t2.1.12-stable\n',
      stderr: '',
    }),
    upload: async () => {},
    download: async () => {},
    transferMethod: async () => 'sftp',
    openTcp: async () => {
      throw new Error('connection refused');
    },
    hold: async () => ({ firstLine: 'held', release: async () => {} }),
    close: async () => {},
  };
}

/** Stand-ins for the rolling tasks: each reports what the real one reports, figures included. */
const scripted: TaskModule[] = [
  {
    name: 'backup',
    plan: async (_ctx, facts) =>
      changed('back up 3 items', facts, [
        { kind: 'backup', items: 3, bytes: 300, version: '1.6.18', text: 'back up 3 items' },
      ]),
    apply: async (ctx) => {
      ctx.progress('full pass', { items: 3, itemsTotal: 3, bytes: 300, bytesTotal: 300 });
      return {
        status: 'changed',
        detail: 'full pass 3 items / 300 B in 0.0s',
        figures: { items: 3, bytes: 300 },
      };
    },
  },
  {
    name: 'restore',
    plan: async (_ctx, facts) => changed('restore 3 items', facts),
    apply: async (ctx) => {
      const figures = { items: 2, bytes: 200, skipped: 1, kept_newer: 0, backup_file: '/b/x.mpbak' };
      if (ctx.host.name === 'host2') {
        throw new TaskFailedWithFigures('host2', 'restore', 'restored 2 items, below the ratio', figures);
      }
      return {
        status: 'changed',
        detail: 'restored 2 items / 200 B in 0.0s; 1 expired before restore, skipped',
        figures,
      };
    },
  },
  {
    name: 'verify',
    plan: async (_ctx, facts) => changed('verify', facts),
    apply: async (ctx) => {
      ctx.reportGate({
        gate: 'settings',
        status: 'passed',
        detail: 'accepted: maxconns 1024 → 2048',
        differences: [
          { setting: 'maxconns', before: '1024', after: '2048', client_visible: true, accepted: true },
        ],
      });
      ctx.reportGate({
        gate: 'protocol',
        status: 'passed',
        detail: 'every protocol answers as before',
        probes: [
          {
            protocol: 'text',
            probe: 'version',
            before: { answered: true, reply: 'VERSION 1.6.18' },
            after: { answered: true, reply: 'VERSION 1.6.38' },
          },
        ],
      });
      return { status: 'ok', detail: 'sample of 2 read back equal' };
    },
  },
];

const pipeline: Pipeline = {
  name: 'upgrade',
  phases: [
    { name: 'prepare', batches: 'fleet', tasks: [versionCheck] },
    { name: 'rolling', batches: 'serial', tasks: scripted },
  ],
};

const playbook = resolveText(
  `${head}strategy:\n  max_fail_percentage: 100\nhosts:\n  host1: { address: 127.0.0.1 }\n  host2: { address: 127.0.0.2 }\n  host3: { address: 127.0.0.3 }\n`,
);

/** A run of the engine on three hosts (host2's restore fails, host3 cannot be reached), as `-o json -v` prints it. */
async function jsonRun(check: boolean): Promise<string> {
  const lines: string[] = [];
  const render = jsonRenderer((line) => lines.push(line), true);
  await runPipeline(playbook, playbook.hosts, pipeline, {
    job: { kind: 'upgrade' },
    check,
    forks: 5,
    signal: new AbortController().signal,
    memplayVersion,
    runLog: '/srv/ops/.memplay/runs/20261129T093618.123Z',
    emit: (event) => render(stampEvent(event, runId)),
    connect: async (host) => {
      if (host.name === 'host3') throw new HostUnreachable('host3', 'connect', 'connection refused');
      return fakeTransport(host.name);
    },
  });
  return `${lines.join('\n')}\n`;
}

describe('schemas/events.schema.json', () => {
  it('every line of a run, --check and apply, follows it and carries the run id and a timestamp', async () => {
    for (const check of [true, false]) {
      const events = checkJsonLines(await jsonRun(check));
      expect(events.every((event) => event.run_id === runId && event.schema === 1)).toBe(true);
      for (const event of events)
        expect(String(event.ts)).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      const names = new Set(events.map((event) => event.event));
      for (const name of ['start', 'batch', 'task-start', 'task', 'unreachable', 'recap'])
        expect(names, `check: ${check}`).toContain(name);
      expect(names.has('plan-summary')).toBe(check);
      if (!check) for (const name of ['progress', 'gate']) expect(names).toContain(name);
    }
  });

  it('start names the job, memplay and the target; task events carry their figures, failed ones too', async () => {
    const events = checkJsonLines(await jsonRun(false));
    expect(events[0]).toMatchObject({
      event: 'start',
      job: 'upgrade',
      memplay_version: memplayVersion,
      target_version: '1.6.38',
      log: '/srv/ops/.memplay/runs/20261129T093618.123Z',
      journal: null,
    });
    const task = (host: string, name: string) =>
      events.find((event) => event.event === 'task' && event.host === host && event.task === name);
    expect(task('host1', 'version_check')).toMatchObject({ target_version: '1.6.38', running_version: null });
    expect(task('host1', 'backup')).toMatchObject({ status: 'changed', items: 3, bytes: 300 });
    expect(task('host1', 'restore')).toMatchObject({
      items: 2,
      bytes: 200,
      skipped: 1,
      backup_file: '/b/x.mpbak',
    });
    expect(task('host2', 'restore')).toMatchObject({ status: 'failed', items: 2, skipped: 1 });
  });

  it('describes every event the code declares, and a sample of each follows it', () => {
    // One per RunEvent type: the compiler refuses this object when an event type is added without one.
    const samples: { [Name in RunEvent['event']]: Extract<RunEvent, { event: Name }> } = {
      start: {
        event: 'start',
        playbook: 'fleet.yml',
        name: 'rollback',
        check: false,
        hosts: ['host1'],
        tasks: ['version_check', 'backup', 'swap', 'restore', 'verify'],
        job: 'rollback',
        memplay_version: '0.1.0',
        target_version: null,
        rollback_from: '1.6.38',
        log: null,
        journal: '/var/backups/memplay/journal.jsonl',
      },
      batch: { event: 'batch', phase: 'rolling', batch: 1, batches: 2, hosts: ['host1'], on_target: true },
      pause: { event: 'pause', phase: 'rolling', batch: 2, batches: 2, hosts: ['host2'], seconds: 30 },
      confirm: {
        event: 'confirm',
        phase: 'rolling',
        batch: 2,
        batches: 2,
        hosts: ['host2'],
        answer: 'yes',
        assumed: true,
      },
      'task-start': { event: 'task-start', host: 'host1', task: 'swap' },
      task: {
        event: 'task',
        host: 'host1',
        task: 'swap',
        status: 'changed',
        detail: '1.6.18 → 1.6.38 warm: …; serving on port 11211 (out of service 312 ms)',
        check: false,
        duration_ms: 1840,
        swap_mode: 'warm',
        swap_reason: 'memory file',
        swap_guarantee: 'exact',
        out_of_service_ms: 312,
        items: 20_000,
      },
      gate: {
        event: 'gate',
        host: 'host1',
        task: 'verify',
        check: false,
        gate: 'performance',
        status: 'skipped',
        detail: 'no figures',
        before: null,
        after: null,
        max_latency_regression: 1.5,
        min_throughput_ratio: 0.8,
      },
      progress: {
        event: 'progress',
        host: 'host1',
        task: 'build',
        message: 'make · 12/80 files',
        phase: 'make',
        items: 12,
        items_total: 80,
        unit: 'files',
      },
      unreachable: { event: 'unreachable', host: 'host2', reason: 'auth', detail: 'host2: no key' },
      'host-key-accepted': {
        event: 'host-key-accepted',
        host: 'host3',
        name: '[127.0.0.1]:2203',
        known_hosts: '/home/ops/.ssh/known_hosts',
        key_type: 'ssh-ed25519',
        fingerprint: 'SHA256:abc',
      },
      'ssh-legacy-algorithms': {
        event: 'ssh-legacy-algorithms',
        host: 'host1',
        offered: ['ssh-rsa', 'hmac-sha1'],
        in_use: ['ssh-rsa'],
      },
      command: {
        event: 'command',
        host: 'host1',
        command: 'uname -m',
        code: 0,
        duration_ms: 4,
        stdout: 'x86_64\n',
        stderr: '',
      },
      aborted: { event: 'aborted', reason: '2 of 3 hosts failed' },
      'plan-drift': {
        event: 'plan-drift',
        host: 'host1',
        task: 'swap',
        field: 'runningVersion',
        planned: '1.6.38',
        found: null,
      },
      'backups-pruned': {
        event: 'backups-pruned',
        host: 'host1',
        check: false,
        folder: '/var/backups/memplay/host1',
        keep: 'count 3',
        pruned: [
          {
            file: '20261129T093618Z-1.6.18.mpbak',
            created_at: '2026-11-29T09:36:18Z',
            bytes: 900,
            reason: 'beyond the newest 3',
          },
        ],
        freed_bytes: 900,
        kept: 3,
      },
      'plan-summary': {
        event: 'plan-summary',
        hosts: 1,
        changing: ['host1'],
        unchanged: [],
        failed: [],
        unreachable: [],
        failures: [],
        compile: [{ host: 'host1', version: '1.6.38' }],
        ship: [],
        backup_hosts: 1,
        backup_items: 3,
        backup_bytes: 300,
        batches: [{ batch: 1, hosts: ['host1'], out_of_service: ['host1'] }],
        max_out_of_service: 1,
        pause_between_batches: 0,
        confirm_between_batches: false,
        max_failed_hosts: null,
      },
      recap: {
        event: 'recap',
        hosts: {
          host1: {
            ok: 3,
            changed: 3,
            failed: 0,
            skipped: 0,
            unreachable: false,
            swap_mode: 'cold',
            left_out: 0,
          },
        },
        interrupted: false,
        journal: null,
        controller_peak_rss_bytes: 90_000_000,
        log: null,
      },
    };
    const host = playbook.hosts[0]!;
    const commandLines = {
      facts: factsEvent({
        host,
        reachable: true,
        facts: {
          runningVersion: '1.6.38',
          currentLink: '1.6.38',
          previousLink: '1.6.18',
          builds: [{ dir: '1.6.38', reportedVersion: '1.6.38', madeByMemplay: true }],
          pid: 4242,
          commandLine: ['/opt/memcached/current/bin/memcached', '-d', '-p', '11211'],
          platform: { arch: 'x86_64', libc: 'glibc 2.36', libevent: null },
        },
        problem: null,
        transfer: 'exec-stream',
        stats: {
          version: '1.6.38',
          uptime: 136,
          items: 1503,
          bytes: 2_900_000,
          limitBytes: 67_108_864,
          getHits: 10,
          getMisses: 10,
          hitRatio: 0.5,
          hitRatioSince: null,
          evictions: 0,
          connections: 1,
        },
      }),
      factsUnreachable: factsEvent({ host, reachable: false, reason: 'connect', detail: 'refused' }),
      backups: backupsEvent({
        host: 'host1',
        folder: '/var/backups/memplay/host1',
        keep: defaultBackupRetention,
        backups: [],
      }),
      listHosts: hostListEvent({
        playbook: 'fleet.yml',
        hosts: ['host1', 'host2'],
        batches: [['host1'], ['host2']],
        rolling: true,
      }),
      validate: { event: 'validate', file: 'fleet.yml', valid: true, diagnostics: [], exit_code: 0 },
      error: errorEvent(new PlaybookError([{ file: 'fleet.yml', line: 3, col: 12, message: 'bad' }])),
    };
    for (const sample of [...Object.values(samples), ...Object.values(commandLines)]) {
      expect(contractErrors(stampEvent(sample, runId)), sample.event).toEqual([]);
    }
    expect([...describedEvents].sort()).toEqual(
      [...Object.keys(samples), 'facts', 'backups', 'list-hosts', 'validate', 'error'].sort(),
    );
  });

  it('refuses lines that break it: no run id, a count as text, a time without milliseconds, an unknown job', () => {
    const task = stampEvent(
      { event: 'task', host: 'h', task: 'restore', status: 'ok', detail: '', check: false, duration_ms: 1 },
      runId,
    );
    expect(contractErrors(task)).toEqual([]);
    const { run_id: _, ...anonymous } = task;
    expect(contractErrors(anonymous)).not.toEqual([]);
    expect(contractErrors({ ...task, items: '20,000' })).not.toEqual([]);
    expect(contractErrors({ ...task, ts: '2026-12-06T09:48:50Z' })).not.toEqual([]);
    expect(contractErrors({ ...task, schema: 2 })).not.toEqual([]);
    expect(
      contractErrors({ ...errorEvent(new UsageError('x')), schema: 1, ts: task.ts, run_id: runId }),
    ).toEqual([]);
    expect(contractErrors({ ...task, event: 'start', job: 'deploy' })).not.toEqual([]);
    // An event this version does not describe passes on its envelope: readers skip what they do not know.
    expect(contractErrors({ event: 'something-new', schema: 1, ts: task.ts, run_id: runId })).toEqual([]);
  });
});
