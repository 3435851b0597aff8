import { formatBytes, formatCount, formatEta } from '../units.js';
import type { RunEvent } from './events.js';

// How a progress event reads: "backup 41,200/100,000 items · 48.0/119.0 MiB · ETA 3 s".
// The counts come from the engine; the ETA is the renderer's own estimate from
// the rate it has seen, so JSON consumers get the raw counts and nothing guessed.

export type ProgressEvent = Extract<RunEvent, { event: 'progress' }>;

/** The counted part of a progress update, as the JSON event carries it. */
export interface ProgressFields {
  readonly phase: string;
  readonly items?: number;
  readonly items_total?: number;
  readonly unit?: string;
  readonly bytes?: number;
  readonly bytes_total?: number;
}

/** The phase and its counts, without an ETA: the progress event's `message`. */
export function describeProgress(p: ProgressFields): string {
  const parts = [p.phase];
  if (p.items !== undefined) {
    const of =
      p.items_total === undefined
        ? formatCount(p.items)
        : `${formatCount(p.items)}/${formatCount(p.items_total)}`;
    parts.push(`${of} ${p.unit ?? 'items'}`);
  }
  if (p.bytes !== undefined) parts.push(formatBytes(p.bytes, p.bytes_total));
  return parts.join(' · ');
}

interface Sample {
  readonly phase: string;
  readonly at: number;
  readonly done: number;
}

/**
 * Estimates the time left of each host's running phase from the rate since the
 * phase's first update: items when their total is known, else bytes. No estimate
 * before a second of progress has been seen, so a burst at the start cannot
 * promise a finish it will not keep.
 */
export class EtaEstimator {
  private readonly first = new Map<string, Sample>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Milliseconds left, or undefined when it cannot be told yet. */
  estimate(event: ProgressEvent): number | undefined {
    const measure =
      event.items !== undefined && event.items_total !== undefined
        ? { done: event.items, total: event.items_total }
        : event.bytes !== undefined && event.bytes_total !== undefined
          ? { done: event.bytes, total: event.bytes_total }
          : undefined;
    const key = `${event.host}\u0000${event.task}`;
    const phase = event.phase ?? event.message;
    const at = this.now();
    const start = this.first.get(key);
    if (!measure) {
      this.first.delete(key);
      return undefined;
    }
    if (!start || start.phase !== phase || measure.done < start.done) {
      this.first.set(key, { phase, at, done: measure.done });
      return undefined;
    }
    const elapsed = at - start.at;
    const progressed = measure.done - start.done;
    if (elapsed < 1000 || progressed <= 0 || measure.done >= measure.total) return undefined;
    return ((measure.total - measure.done) * elapsed) / progressed;
  }
}

/** The line a live view shows for a progress event: its message and, once it can be told, the ETA. */
export function progressLine(event: ProgressEvent, etaMs: number | undefined): string {
  return etaMs === undefined ? event.message : `${event.message} · ${formatEta(etaMs)}`;
}
