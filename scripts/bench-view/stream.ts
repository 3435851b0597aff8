import type { HostRecap, RunEvent } from '../../src/report/events.js';

// A 500-host `memplay apply` as its events, timed as a real run emits them: the
// prepare phase (version_check, then one compile while the other hosts wait for
// it and are shipped its build, --forks at a time), then rolling batches of
// serial 10 %, each host's backup, swap, restore and verify with the progress
// updates the engine's throttle lets through (one per task phase, at most every
// 250 ms) and verify's three gates. Durations and the phases each task reports
// are those of a real run on the lab (10 hosts, 1,000 items each: see
// docs/benchmarks.md), with jitter; a few hosts fail or cannot be reached, as in
// a real fleet, so the failure lines are drawn too.

export interface TimedEvent {
  /** Milliseconds from the run's start. */
  readonly at: number;
  readonly event: RunEvent;
}

export interface StreamSettings {
  readonly hosts: number;
  readonly forks: number;
  /** strategy.serial as a share of the fleet: 0.1 for "10%". */
  readonly serialShare: number;
  /** The throttle's interval (src/engine/progress-throttle.ts). */
  readonly progressMs: number;
  /** How long the one compile takes, ms. */
  readonly compileMs: number;
}

type TaskName = 'version_check' | 'build' | 'backup' | 'swap' | 'restore' | 'verify' | 'rollback';

/** A deterministic generator, so every run of the bench replays the same stream. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** A task's phases as the lab run reported them, each with its share of the task's time and whether it counts. */
interface PhaseShape {
  readonly phase: string;
  readonly share: number;
  readonly items?: number;
  readonly unit?: string;
  readonly bytes?: number;
}

const shapes: Record<'backup' | 'swap' | 'restore' | 'verify' | 'ship', readonly PhaseShape[]> = {
  backup: [
    { phase: 'full pass', share: 0.8, items: 1000, bytes: 2_400_000 },
    { phase: 'catch up: re-read what clients changed during the full pass', share: 0.2 },
  ],
  swap: [
    { phase: 'gates: sample keys of 1.6.18', share: 0.05 },
    { phase: 'gates: stats settings and protocol probe', share: 0.05 },
    { phase: 'gates: load on 1.6.18 (get/set mix, single and pipelined)', share: 0.5 },
    { phase: 'delta pass: re-read what changed since the backup', share: 0.1 },
    { phase: 'verify the backup file', share: 0.05 },
    { phase: 'point previous → 1.6.18', share: 0.03 },
    { phase: 'last look at what clients changed since the backup was sealed', share: 0.03 },
    { phase: 'stop the running instance with SIGUSR1 (warm restart)', share: 0.05 },
    { phase: 'collect the changes clients made until the stop', share: 0.04 },
    { phase: 'point current → 1.6.38', share: 0.02 },
    { phase: 'start 1.6.38', share: 0.08 },
  ],
  restore: [
    { phase: 'restore 1,000 items from the backup', share: 0.1 },
    { phase: 'restore', share: 0.8, items: 1000, bytes: 2_400_000 },
    { phase: 'undo restored copies of keys clients deleted', share: 0.1 },
  ],
  verify: [
    { phase: 'gates: stats settings and protocol probe', share: 0.2 },
    { phase: 'gates: load on 1.6.38 (get/set mix, single and pipelined)', share: 0.8 },
  ],
  ship: [
    { phase: 'wait for 1.6.38 from host1', share: 0 },
    { phase: 'create staging directory', share: 0.05 },
    { phase: 'upload 1.6.38 built on host1', share: 0.5, bytes: 1_800_000 },
    { phase: 'verify sha256 of the shipped tree', share: 0.1 },
    { phase: 'unpack the shipped tree', share: 0.15 },
    { phase: 'check the new binary', share: 0.1 },
    { phase: "mark the build as memplay's", share: 0.05 },
    { phase: 'move into place', share: 0.05 },
  ],
};

/** Median task durations of the lab run, ms (version_check, backup, swap, restore, verify; a shipped build). */
const medianMs = { version_check: 25, backup: 850, swap: 3100, restore: 870, verify: 1700, ship: 1500 };

export function generateStream(settings: StreamSettings): TimedEvent[] {
  const rand = random(18);
  const jitter = (ms: number) => Math.round(ms * (0.7 + 0.6 * rand()));
  const names = Array.from({ length: settings.hosts }, (_, i) => `host${i + 1}`);
  const tasks: TaskName[] = ['version_check', 'build', 'backup', 'swap', 'restore', 'verify'];
  const out: TimedEvent[] = [];
  const push = (at: number, event: RunEvent) => out.push({ at, event });
  const recap: Record<string, HostRecap> = {};
  for (const host of names) recap[host] = { ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: false };
  // Hosts that fail, as a real fleet's few: one cannot be reached, one fails its swap, one its verify gate.
  const unreachable = new Set([names[Math.floor(settings.hosts * 0.37)]]);
  const swapFails = new Set([names[Math.floor(settings.hosts * 0.52)]]);
  const verifyFails = new Set([names[Math.floor(settings.hosts * 0.81)]]);

  /** A task on a host from `at`: its start, its progress at the throttle's pace, its end; returns when it ended. */
  const task = (
    host: string,
    name: TaskName,
    at: number,
    ms: number,
    phases: readonly PhaseShape[],
    result: { status: 'ok' | 'changed' | 'failed'; detail: string },
  ): number => {
    push(at, { event: 'task-start', host, task: name } as RunEvent);
    let t = at;
    for (const shape of phases) {
      const phaseMs = ms * shape.share;
      // A new phase goes out at once; a counted one again every progressMs while it lasts.
      const ticks =
        shape.items !== undefined || shape.bytes !== undefined
          ? Math.max(1, Math.floor(phaseMs / settings.progressMs))
          : 1;
      for (let i = 0; i < ticks; i++) {
        const done = ticks === 1 ? 1 : i / (ticks - 1);
        const counts = {
          ...(shape.items !== undefined
            ? { items: Math.round(shape.items * done), items_total: shape.items, unit: shape.unit ?? 'items' }
            : {}),
          ...(shape.bytes !== undefined
            ? { bytes: Math.round(shape.bytes * done), bytes_total: shape.bytes }
            : {}),
        };
        const message = [
          shape.phase,
          ...(counts.items !== undefined ? [`${counts.items}/${shape.items} ${counts.unit}`] : []),
          ...(counts.bytes !== undefined ? [`${counts.bytes}/${shape.bytes} B`] : []),
        ].join(' · ');
        push(t + i * settings.progressMs, {
          event: 'progress',
          host,
          task: name,
          message,
          phase: shape.phase,
          ...counts,
        } as RunEvent);
      }
      t += phaseMs;
    }
    const end = at + ms;
    push(end, {
      event: 'task',
      host,
      task: name,
      status: result.status,
      detail: result.detail,
      check: false,
      duration_ms: ms,
    } as RunEvent);
    const r = recap[host] as HostRecap;
    if (result.status === 'failed') r.failed += 1;
    else if (result.status === 'changed') r.changed += 1;
    else r.ok += 1;
    return end;
  };

  push(0, {
    event: 'start',
    playbook: 'fleet.yml',
    name: `fleet of ${settings.hosts} upgrade to 1.6.38`,
    check: false,
    hosts: names,
    tasks,
    job: 'upgrade',
    memplay_version: '0.1.0',
    target_version: '1.6.38',
    log: '.memplay/runs/bench',
    journal: 'backups/journal.jsonl',
  } as RunEvent);

  // prepare: --forks hosts at a time, each version_check then build; host1 compiles, the rest wait and are shipped.
  push(1, { event: 'batch', phase: 'prepare', batch: 1, batches: 1, hosts: names });
  const slots = Array.from({ length: settings.forks }, () => 2);
  let compiled = Number.POSITIVE_INFINITY;
  const reachable: string[] = [];
  for (const [index, host] of names.entries()) {
    const slot = slots.indexOf(Math.min(...slots));
    let at = slots[slot] as number;
    if (unreachable.has(host)) {
      push(at + 10_000, {
        event: 'unreachable',
        host,
        reason: 'timeout',
        detail: 'no SSH banner within 10 s',
      });
      recap[host] = { ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: true };
      slots[slot] = at + 10_000;
      continue;
    }
    reachable.push(host);
    at = task(host, 'version_check', at, jitter(medianMs.version_check), [], {
      status: 'changed',
      detail: 'running 1.6.18, target 1.6.38',
    });
    if (index === 0) {
      const compile: PhaseShape[] = [
        { phase: 'create staging directory', share: 0.01 },
        { phase: 'upload memcached_1.6.38.orig.tar.xz', share: 0.02, bytes: 924_000 },
        { phase: 'verify sha256 on the host', share: 0.01 },
        { phase: 'unpack', share: 0.01 },
        { phase: 'configure', share: 0.15 },
        { phase: 'make', share: 0.74, items: 63, unit: 'files' },
        { phase: 'make install', share: 0.02 },
        { phase: 'check the new binary', share: 0.01 },
        { phase: 'pack 1.6.38 for the hosts of the same platform', share: 0.02 },
        { phase: 'copy the packed 1.6.38 to the controller', share: 0.01 },
      ];
      compiled = task(host, 'build', at, settings.compileMs, compile, {
        status: 'changed',
        detail: 'built 1.6.38',
      });
      slots[slot] = compiled;
      continue;
    }
    // The wait for host1's compile is the ship's first phase; its share of the time is the wait itself.
    const wait = Math.max(
      0,
      compiled === Number.POSITIVE_INFINITY ? settings.compileMs + 30 - at : compiled - at,
    );
    const shipMs = jitter(medianMs.ship);
    const ms = wait + shipMs;
    const phases = (shapes.ship as PhaseShape[]).map((shape, i) =>
      i === 0 ? { ...shape, share: wait / ms } : { ...shape, share: (shape.share * shipMs) / ms },
    );
    slots[slot] = task(host, 'build', at, ms, phases, {
      status: 'changed',
      detail: 'installed 1.6.38 built on host1',
    });
  }

  // rolling: serial share of the fleet a batch, every host of a batch at once (forks ≥ batch size).
  let at = Math.max(...slots) + 5;
  const perBatch = Math.max(1, Math.ceil(settings.hosts * settings.serialShare));
  const batches = Math.ceil(reachable.length / perBatch);
  for (let b = 0; b < batches; b++) {
    const hosts = reachable.slice(b * perBatch, (b + 1) * perBatch);
    push(at, { event: 'batch', phase: 'rolling', batch: b + 1, batches, hosts });
    let batchEnd = at;
    for (const host of hosts) {
      let t = task(host, 'backup', at + 2, jitter(medianMs.backup), shapes.backup, {
        status: 'changed',
        detail: 'backed up 1,000 items / 2.4 MB',
      });
      if (swapFails.has(host)) {
        t = task(host, 'swap', t, jitter(medianMs.swap), shapes.swap.slice(0, 8), {
          status: 'failed',
          detail:
            '1.6.38 did not answer on 11211 within 10 s\nstderr: failed to listen on TCP port 11211: Address in use',
        });
        t = task(host, 'rollback', t, 4000, [], {
          status: 'ok',
          detail: 'back on 1.6.18 with its 1,000 items',
        });
        batchEnd = Math.max(batchEnd, t);
        continue;
      }
      t = task(host, 'swap', t, jitter(medianMs.swap), shapes.swap, {
        status: 'changed',
        detail: 'warm restart into 1.6.38',
      });
      t = task(host, 'restore', t, jitter(medianMs.restore), shapes.restore, {
        status: 'changed',
        detail: 'restored 1,000 items',
      });
      const verifyMs = jitter(medianMs.verify);
      for (const [i, gate] of (['protocol', 'settings', 'performance'] as const).entries()) {
        const failed = gate === 'performance' && verifyFails.has(host);
        push(t + (verifyMs * (i + 1)) / 4, {
          event: 'gate',
          host,
          task: 'verify',
          check: false,
          gate,
          status: failed ? 'failed' : 'passed',
          detail: failed
            ? 'single throughput 26% of before, below verify.min_throughput_ratio 0.8 in every round'
            : 'as before',
        } as RunEvent);
      }
      t = task(host, 'verify', t, verifyMs, shapes.verify, {
        status: verifyFails.has(host) ? 'failed' : 'ok',
        detail: verifyFails.has(host)
          ? 'performance gate failed: single throughput 26% of before'
          : '3 gates passed',
      });
      batchEnd = Math.max(batchEnd, t);
    }
    at = batchEnd + 5;
  }
  push(at, {
    event: 'recap',
    hosts: recap,
    interrupted: false,
    journal: 'backups/journal.jsonl',
    controller_peak_rss_bytes: 0,
    log: '.memplay/runs/bench',
  });
  // Stable: events at the same moment keep the order they were made in.
  return out
    .map((timed, order) => ({ timed, order }))
    .sort((a, b) => a.timed.at - b.timed.at || a.order - b.order)
    .map(({ timed }) => timed);
}
