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

const count = (n: number) => n.toLocaleString('en-US');

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

function unitFor(bytes: number): number {
  let power = 0;
  while (power < units.length - 1 && bytes >= 1024 ** (power + 1)) power += 1;
  return power;
}

function scaled(bytes: number, power: number): string {
  return power === 0 ? String(bytes) : (bytes / 1024 ** power).toFixed(1);
}

/** `512 B`, `48.0 MiB`; with a total, both in the total's unit: `48.0/119.0 MiB`. */
export function formatSize(bytes: number, total?: number): string {
  const power = unitFor(total ?? bytes);
  const done = scaled(bytes, power);
  return total === undefined ? `${done} ${units[power]}` : `${done}/${scaled(total, power)} ${units[power]}`;
}

/** `ETA 3 s`, `ETA 2 min 05 s`, `ETA 1 h 03 min`: rounded up, never "0 s" while work remains. */
export function formatEta(ms: number): string {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  if (seconds < 60) return `ETA ${seconds} s`;
  if (seconds < 3600) return `ETA ${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
  const minutes = Math.ceil(seconds / 60);
  return `ETA ${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

/** The phase and its counts, without an ETA: the progress event's `message`. */
export function describeProgress(p: ProgressFields): string {
  const parts = [p.phase];
  if (p.items !== undefined) {
    const of = p.items_total === undefined ? count(p.items) : `${count(p.items)}/${count(p.items_total)}`;
    parts.push(`${of} ${p.unit ?? 'items'}`);
  }
  if (p.bytes !== undefined) parts.push(formatSize(p.bytes, p.bytes_total));
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
