import { formatSeconds } from '../units.js';
import type { RunEvent, TaskStatus } from './events.js';
import {
  backupsPrunedLine,
  gateLine,
  hostKeyAcceptedLine,
  legacyAlgorithmsLine,
  planDriftLine,
} from './plain.js';
import { EtaEstimator, progressLine } from './progress.js';

// The live view for fleets too large for a line per host (hundreds of hosts):
// one line for the batch that runs, with its hosts counted by state; a line for
// each batch once it is over; and every failure on its own line the moment it
// happens. This file only keeps the state and says what the lines read;
// batch-renderer.ts draws them on a terminal or writes them to a log.

/** What the view prints for good, above the live lines: failures, warnings, finished batches. */
export type PrintedLines = readonly string[];

type HostState = 'pending' | 'running' | 'ok' | 'changed' | 'failed' | 'unreachable';

interface HostInBatch {
  state: HostState;
  /** The task it runs (or last ran, between two tasks). */
  task?: string;
  settled: number;
  changed: boolean;
}

interface Batch {
  readonly phase: string;
  readonly batch: number;
  readonly batches: number;
  readonly startedAt: number;
  readonly hosts: Map<string, HostInBatch>;
  /** The tasks a host of this phase runs, when the CLI said (else a host is done once it runs nothing). */
  readonly taskCount: number | undefined;
}

/** The tasks of each phase, in order, as the pipeline runs them (`prepare: version_check, build`). */
export type PhaseTasks = ReadonlyMap<string, readonly string[]>;

/** The tasks whose progress the live lines show: the fleet's compile is the one long wait of prepare. */
const progressShownFor = new Set(['build']);

export class BatchView {
  private current: Batch | undefined;
  private check = false;
  /** The run's tasks in pipeline order: running hosts are counted by task in this order. */
  private taskOrder: readonly string[] = [];
  private readonly eta: EtaEstimator;
  /** Each host's latest progress in a task of `progressShownFor`, while it runs that task. */
  private readonly progress = new Map<string, { task: string; phase: string; line: string }>();
  /** A line shown under the batch's while the run waits between batches (pause, question). */
  private waitNote: string | undefined;

  constructor(
    private readonly phaseTasks: PhaseTasks = new Map(),
    private readonly now: () => number = () => performance.now(),
  ) {
    this.eta = new EtaEstimator(now);
  }

  /** Takes an event in; returns the lines to print for good now (in order), often none. */
  handle(event: RunEvent): PrintedLines {
    switch (event.event) {
      case 'start':
        this.check = event.check;
        this.taskOrder = event.tasks;
        return [];
      case 'batch': {
        const done = this.endBatch();
        const taskCount = this.phaseTasks.get(event.phase)?.length;
        this.current = {
          phase: event.phase,
          batch: event.batch,
          batches: event.batches,
          startedAt: this.now(),
          hosts: new Map(event.hosts.map((host) => [host, { state: 'pending', settled: 0, changed: false }])),
          taskCount,
        };
        this.waitNote = undefined;
        return done;
      }
      case 'task-start': {
        const host = this.current?.hosts.get(event.host);
        if (host && host.state !== 'failed' && host.state !== 'unreachable') {
          host.state = 'running';
          host.task = event.task;
        }
        return [];
      }
      case 'progress':
        if (progressShownFor.has(event.task) && this.current?.hosts.get(event.host)?.task === event.task) {
          this.progress.set(event.host, {
            task: event.task,
            phase: event.phase ?? event.message,
            line: progressLine(event, this.eta.estimate(event)),
          });
        }
        return [];
      case 'task':
        return this.settle(event.host, event.task, event.status, event.detail);
      case 'unreachable': {
        const host = this.current?.hosts.get(event.host);
        if (host) host.state = 'unreachable';
        return [`${event.host} UNREACHABLE (${event.reason}): ${firstLine(event.detail)}`];
      }
      case 'gate':
        // Three gates a host, hundreds of hosts: only the failing ones are news; every
        // gate's figures are in the run log and the JSON events.
        return event.status === 'failed' ? [firstLine(gateLine(event))] : [];
      case 'aborted':
        return [`ABORTED: ${event.reason}`];
      case 'plan-drift':
        return [planDriftLine(event)];
      case 'host-key-accepted':
        return [hostKeyAcceptedLine(event)];
      case 'ssh-legacy-algorithms':
        return [legacyAlgorithmsLine(event)];
      case 'backups-pruned':
        // A line a host is noise at 500 hosts: the recap counts what each pruned. A backup
        // that could not be pruned is a warning, and printed.
        return event.problems?.length ? [backupsPrunedLine(event)] : [];
      case 'confirm':
        this.waitNote = undefined;
        return [];
      case 'recap':
        this.waitNote = undefined;
        return this.endBatch();
      default:
        return [];
    }
  }

  /** A line shown under the batch's while the run waits (a pause, the question); undefined clears it. */
  note(text: string | undefined): void {
    this.waitNote = text;
  }

  private settle(name: string, task: string, status: TaskStatus, detail: string): PrintedLines {
    if (this.progress.get(name)?.task === task) this.progress.delete(name);
    const host = this.current?.hosts.get(name);
    // A rollback follows a failure, which is printed already: its outcome is a line of its own.
    if (task === 'rollback') return [`${name} rollback ${status}: ${firstLine(detail)}`];
    const printed = status === 'failed' ? [`${name} ${task} failed: ${firstLine(detail)}`] : [];
    if (!host || host.state === 'unreachable') return printed;
    host.settled += 1;
    if (status === 'changed') host.changed = true;
    if (status === 'failed') host.state = 'failed';
    if (host.state === 'failed') return printed;
    const batch = this.current as Batch;
    // Without the phase's task list, a host that runs nothing counts as done until its next task starts.
    const done = batch.taskCount === undefined || host.settled >= batch.taskCount;
    host.state = done ? (host.changed ? 'changed' : 'ok') : 'running';
    return printed;
  }

  /** The finished batch's line, printed for good when the next batch starts or the run ends. */
  private endBatch(): PrintedLines {
    const batch = this.current;
    this.current = undefined;
    this.progress.clear();
    return batch ? [this.batchLine(batch, true)] : [];
  }

  /** The lines redrawn in place: the running batch's, the build's progress, a wait between batches. */
  liveLines(): readonly string[] {
    const lines: string[] = [];
    if (this.current) lines.push(this.batchLine(this.current, false));
    lines.push(...this.progressLines());
    if (this.waitNote) lines.push(`  ${this.waitNote}`);
    return lines;
  }

  /**
   * What the hosts in the build are doing, by phase: a phase one host is in reads as
   * its progress (the compile's files), one many hosts are in as their count —
   * `  build: host1 make · 32/63 files · ETA 5 s; 499 hosts wait for 1.6.38 from host1`,
   * a line per task shown.
   */
  private progressLines(): string[] {
    const byPhase = new Map<string, { task: string; phase: string; hosts: string[]; line: string }>();
    for (const [host, { task, phase, line }] of this.progress) {
      const key = `${task}\u0000${phase}`;
      const group = byPhase.get(key) ?? { task, phase, hosts: [], line };
      group.hosts.push(host);
      byPhase.set(key, group);
    }
    // The fewest hosts first: the compile's own line must not be cut off behind the hosts waiting for it.
    const groups = [...byPhase.values()].sort((a, b) => a.hosts.length - b.hosts.length);
    const byTask = new Map<string, string[]>();
    for (const group of groups) {
      const part =
        group.hosts.length === 1
          ? `${group.hosts[0]} ${group.line}`
          : `${group.hosts.length} hosts ${group.phase}`;
      byTask.set(group.task, [...(byTask.get(group.task) ?? []), part]);
    }
    return [...byTask].map(([task, parts]) => `  ${task}: ${parts.join('; ')}`);
  }

  /**
   * `rolling batch 3/10 · 50 hosts · 12 pending · 30 running (backup 10, swap 20) · 7 ok · 1 failed · 42 s`;
   * a finished batch: `rolling batch 3/10 done · 50 hosts · 48 ok · 1 changed · 1 failed · 1 min 2 s`.
   * Counts that are zero are left out.
   */
  private batchLine(batch: Batch, finished: boolean): string {
    const counts: Record<HostState, number> = {
      pending: 0,
      running: 0,
      ok: 0,
      changed: 0,
      failed: 0,
      unreachable: 0,
    };
    const byTask = new Map<string, number>();
    for (const host of batch.hosts.values()) {
      counts[host.state] += 1;
      if (host.state === 'running' && host.task) byTask.set(host.task, (byTask.get(host.task) ?? 0) + 1);
    }
    const parts = [
      `${batch.phase} batch ${batch.batch}/${batch.batches}${finished ? ' done' : ''}`,
      `${batch.hosts.size} ${batch.hosts.size === 1 ? 'host' : 'hosts'}`,
    ];
    if (counts.pending > 0) parts.push(`${counts.pending} ${finished ? 'not run' : 'pending'}`);
    if (counts.running > 0) {
      const order = (task: string) => {
        const index = this.taskOrder.indexOf(task);
        return index === -1 ? this.taskOrder.length : index;
      };
      const tasks = [...byTask]
        .sort(([a], [b]) => order(a) - order(b))
        .map(([task, n]) => `${task} ${n}`)
        .join(', ');
      parts.push(`${counts.running} ${finished ? 'unfinished' : 'running'}${tasks ? ` (${tasks})` : ''}`);
    }
    if (counts.ok > 0) parts.push(`${counts.ok} ok`);
    if (counts.changed > 0) parts.push(`${counts.changed} ${this.check ? 'would change' : 'changed'}`);
    if (counts.failed > 0) parts.push(`${counts.failed} failed`);
    if (counts.unreachable > 0) parts.push(`${counts.unreachable} unreachable`);
    parts.push(formatSeconds(Math.floor((this.now() - batch.startedAt) / 1000)));
    return parts.join(' · ');
  }
}

/** A failure's message can carry a command's whole output: the view keeps its first line. */
export function firstLine(text: string): string {
  const end = text.indexOf('\n');
  return end === -1 ? text : text.slice(0, end);
}
