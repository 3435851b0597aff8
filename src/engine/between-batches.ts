import type { Strategy } from '../playbook/types.js';
import type { BatchPosition, EventSink } from '../report/events.js';

// What happens between two rolling batches: strategy.pause_between_batches, then
// strategy.confirm_between_batches. The engine only asks through `confirmBatch`;
// the terminal (or --yes) behind it is the CLI's.

/** Asks whether the batch may start; resolves false for no. */
export type ConfirmBatch = (next: BatchPosition) => Promise<boolean>;

export interface BetweenBatchesOptions {
  readonly strategy: Strategy;
  readonly emit: EventSink;
  /** Ctrl-C: the pause ends at once, and nothing is asked. */
  readonly signal: AbortSignal;
  /** --yes: every question is answered yes without asking. */
  readonly assumeYes: boolean;
  /** How the operator is asked; without it (and without --yes) the answer is no. */
  readonly confirmBatch?: ConfirmBatch;
}

/**
 * Waits and asks before `next`. `declined` when the operator said no; `go` otherwise,
 * also when interrupted meanwhile (the caller sees the signal and stops as for Ctrl-C).
 */
export async function betweenBatches(
  next: BatchPosition,
  options: BetweenBatchesOptions,
): Promise<'go' | 'declined'> {
  const { strategy, emit, signal } = options;
  if (strategy.pauseBetweenBatches > 0) {
    emit({ event: 'pause', ...next, seconds: strategy.pauseBetweenBatches });
    await sleep(strategy.pauseBetweenBatches * 1000, signal);
  }
  if (!strategy.confirmBetweenBatches || signal.aborted) return 'go';
  const yes = options.assumeYes || ((await options.confirmBatch?.(next).catch(() => false)) ?? false);
  if (signal.aborted) return 'go';
  emit({ event: 'confirm', ...next, answer: yes ? 'yes' : 'no', assumed: options.assumeYes });
  return yes ? 'go' : 'declined';
}

/** Resolves after `ms`, or as soon as `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
