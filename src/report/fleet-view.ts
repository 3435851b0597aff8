import type { RunEvent, TaskStatus } from './events.js';
import { EtaEstimator, progressLine } from './progress.js';

// The live view when the nested one (a line per host and per task) would not fit
// the terminal: one line per host. When even that does not fit, the batch view
// (batch-view.ts) takes over. This file keeps what the host lines say; pretty.ts
// draws them.

export type Layout = 'nested' | 'per-host' | 'aggregate';

/** Above this many hosts the nested view is too long to follow, whatever the terminal's height. */
export const maxNestedHosts = 8;

/** Which view fits `rows` terminal lines (a few kept for the lines printed around it). */
export function chooseLayout(hosts: number, tasks: number, rows: number): Layout {
  const usable = Math.max(1, rows - 3);
  if (hosts <= maxNestedHosts && hosts * (tasks + 1) <= usable) return 'nested';
  if (hosts <= usable) return 'per-host';
  return 'aggregate';
}

/** `--view`: which live view draws the run; auto picks by the fleet's size and the terminal's height. */
export type ViewChoice = 'auto' | 'batches' | 'hosts';

/**
 * The live view a run gets: the batch view (batch-view.ts) when asked for, or, in
 * auto, when not even a line per host fits the terminal; `hosts` keeps a line per
 * host however long the list grows.
 */
export function chooseLiveView(
  choice: ViewChoice,
  hosts: number,
  tasks: number,
  rows: number,
): 'nested' | 'per-host' | 'batches' {
  if (choice === 'batches') return 'batches';
  const layout = chooseLayout(hosts, tasks, rows);
  if (layout !== 'aggregate') return layout;
  return choice === 'hosts' ? 'per-host' : 'batches';
}

type HostStatus = 'waiting' | 'running' | 'done' | 'failed' | 'unreachable';

interface HostLine {
  status: HostStatus;
  task?: string;
  progress?: string;
  settled: number;
  changed: number;
  failure?: string;
  /** Why a host waits for its batch (a pause or question between batches). */
  note?: string;
}

export class FleetView {
  private readonly hosts = new Map<string, HostLine>();
  private readonly eta: EtaEstimator;

  constructor(
    hostNames: readonly string[],
    private readonly taskCount: number,
    private readonly check: boolean,
    now?: () => number,
  ) {
    for (const name of hostNames) this.hosts.set(name, { status: 'waiting', settled: 0, changed: 0 });
    this.eta = new EtaEstimator(now);
  }

  /** Takes an event in; returns the host whose line changed, if any. */
  handle(event: RunEvent): string | undefined {
    if (!('host' in event)) return undefined;
    const line = this.hosts.get(event.host);
    if (!line) return undefined;
    switch (event.event) {
      case 'task-start':
        if (line.status === 'waiting') line.status = 'running';
        line.task = event.task;
        line.progress = undefined;
        return event.host;
      case 'progress':
        line.progress = progressLine(event, this.eta.estimate(event));
        return event.host;
      case 'task':
        if (event.task !== 'rollback') line.settled += 1;
        this.settle(line, event.task, event.status, event.detail);
        return event.host;
      case 'unreachable':
        line.status = 'unreachable';
        line.failure = event.detail;
        return event.host;
      default:
        return undefined;
    }
  }

  private settle(line: HostLine, task: string, status: TaskStatus, detail: string): void {
    line.progress = undefined;
    if (status === 'changed') line.changed += 1;
    if (status === 'failed' && line.status !== 'unreachable') {
      line.status = 'failed';
      line.failure = `${task} failed: ${detail}`;
    } else if (line.settled >= this.taskCount && line.status === 'running') {
      line.status = 'done';
    }
  }

  /** Shown instead of the host's task while it waits for its batch; undefined clears it. */
  note(host: string, text: string | undefined): void {
    const line = this.hosts.get(host);
    if (line) line.note = text;
  }

  /** Whether the host has nothing left to do in this run. */
  finished(host: string): boolean {
    const line = this.hosts.get(host);
    return line !== undefined && line.status !== 'waiting' && line.status !== 'running';
  }

  failed(host: string): boolean {
    const status = this.hosts.get(host)?.status;
    return status === 'failed' || status === 'unreachable';
  }

  /** `host3 backup · full pass · 1,000/5,000 items · ETA 3 s`, `host3 done: 2 changed`, … */
  hostLine(host: string): string {
    const line = this.hosts.get(host);
    if (!line) return host;
    if (line.note && (line.status === 'waiting' || line.status === 'running')) return `${host} ${line.note}`;
    switch (line.status) {
      case 'waiting':
        return `${host} waiting`;
      case 'running':
        return `${host} ${[line.task, line.progress].filter(Boolean).join(' · ')}`;
      case 'done':
        return `${host} done: ${line.changed} ${this.check ? 'would change' : 'changed'}, ${this.taskCount - line.changed} ok or skipped`;
      case 'failed':
        return `${host} ${line.failure}`;
      case 'unreachable':
        return `${host} UNREACHABLE: ${line.failure}`;
    }
  }

  /** Whether any host failed or was unreachable. */
  anyFailed(): boolean {
    return [...this.hosts.keys()].some((host) => this.failed(host));
  }

  /** `12 done, 5 running, 1 failed, 32 waiting` (zero counts left out, except done). */
  summary(): string {
    const counts: Record<HostStatus, number> = { done: 0, running: 0, failed: 0, unreachable: 0, waiting: 0 };
    for (const line of this.hosts.values()) counts[line.status] += 1;
    const parts = [`${counts.done} done`];
    for (const status of ['running', 'failed', 'unreachable', 'waiting'] as const) {
      if (counts[status] > 0) parts.push(`${counts[status]} ${status}`);
    }
    return `${this.hosts.size} hosts: ${parts.join(', ')}`;
  }
}
