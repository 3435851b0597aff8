import type { EventSink, RunEvent } from '../report/events.js';
import { describeProgress, type ProgressFields } from '../report/progress.js';
import type { EventTaskName, ProgressCounts } from '../tasks/task.js';

// A backup reports every thousand items and an upload every SFTP chunk: far more
// than anyone reads. One task's progress reaches the renderers at most every
// `intervalMs`; a new phase goes out at once, and the last update held back is
// sent when the interval is up or the task ends, so the final count always arrives.

type ProgressEvent = Extract<RunEvent, { event: 'progress' }>;

export interface TaskProgress {
  report(phase: string, counts?: ProgressCounts): void;
  /** Sends what is held back; call before the task's result. */
  flush(): void;
}

export function progressEvent(host: string, task: EventTaskName, phase: string, counts: ProgressCounts = {}) {
  const fields: ProgressFields = {
    phase,
    ...(counts.items !== undefined ? { items: counts.items } : {}),
    ...(counts.itemsTotal !== undefined ? { items_total: counts.itemsTotal } : {}),
    ...(counts.unit !== undefined ? { unit: counts.unit } : {}),
    ...(counts.bytes !== undefined ? { bytes: counts.bytes } : {}),
    ...(counts.bytesTotal !== undefined ? { bytes_total: counts.bytesTotal } : {}),
  };
  return { event: 'progress', host, task, message: describeProgress(fields), ...fields } as ProgressEvent;
}

export function throttledProgress(
  emit: EventSink,
  host: string,
  task: EventTaskName,
  intervalMs = 250,
  now: () => number = () => performance.now(),
): TaskProgress {
  let lastAt = Number.NEGATIVE_INFINITY;
  let lastPhase: string | undefined;
  let held: ProgressEvent | undefined;
  let timer: NodeJS.Timeout | undefined;

  const send = (event: ProgressEvent) => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    held = undefined;
    lastAt = now();
    lastPhase = event.phase;
    emit(event);
  };
  const flush = () => {
    if (held) send(held);
  };
  return {
    report(phase, counts) {
      const event = progressEvent(host, task, phase, counts);
      if (phase !== lastPhase) {
        // The phase that ends still shows where it got to: its held count goes out first.
        flush();
        send(event);
        return;
      }
      if (now() - lastAt >= intervalMs) {
        send(event);
        return;
      }
      held = event;
      // A phase that stops reporting still shows its latest count.
      timer ??= setTimeout(flush, Math.max(0, intervalMs - (now() - lastAt))).unref();
    },
    flush,
  };
}
