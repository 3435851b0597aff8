import { BatchView, type PhaseTasks } from './batch-view.js';
import type { RunEvent } from './events.js';
import { LiveArea } from './live-area.js';
import { pauseLine, plainRenderer } from './plain.js';

// The batch view (batch-view.ts) on a terminal, redrawn in place, and as lines for
// a log. Both print the same lines for good: failures as they happen, each batch's
// line once it is over. What is not per host — the run's header in a log, the
// pause and the question between batches, the --check plan, the recap — reads as
// the plain renderer writes it.

/** The events whose lines are the plain renderer's in the batch view. */
const plainLines = new Set<RunEvent['event']>([
  'start',
  'pause',
  'confirm',
  'plan-summary',
  'command',
  'recap',
]);

/**
 * The plain renderer, writing only the lines of `plainLines` events: it still sees
 * every event, since its --check plan is added up from all of them.
 */
function plainPart(write: (line: string) => void, verbose: boolean, skip: ReadonlySet<string> = new Set()) {
  let passing = false;
  const plain = plainRenderer((line) => {
    if (passing) write(line);
  }, verbose);
  return (event: RunEvent) => {
    passing = plainLines.has(event.event) && !skip.has(event.event);
    plain(event);
    passing = false;
  };
}

export interface BatchLinesOptions {
  readonly phases?: PhaseTasks;
  readonly verbose?: boolean;
  readonly now?: () => number;
  /** How often, at most, the running batch's counts are written again (ms): a log gets a line, not a tick. */
  readonly everyMs?: number;
}

/**
 * For logs and pipes (`--output plain --view batches`): each batch's hosts when it
 * starts, failures as they happen, the running batch's counts at most every
 * `everyMs` when they changed, and the batch's line when it is over.
 */
export function batchLinesRenderer(
  write: (line: string) => void,
  options: BatchLinesOptions = {},
): (event: RunEvent) => void {
  const now = options.now ?? (() => performance.now());
  const everyMs = options.everyMs ?? 10_000;
  const view = new BatchView(options.phases, now);
  const plain = plainPart(write, options.verbose === true);
  let lastAt = 0;
  let lastLine: string | undefined;
  return (event) => {
    for (const line of view.handle(event)) write(line);
    if (event.event === 'batch') {
      const hosts = `${event.hosts.length} ${event.hosts.length === 1 ? 'host' : 'hosts'}`;
      write(`${event.phase} batch ${event.batch}/${event.batches} · ${hosts}: ${event.hosts.join(', ')}`);
      lastAt = now();
      lastLine = undefined;
    }
    plain(event);
    // Counting the batch's hosts is the costly part (500 of them in prepare): only when a line may be due.
    if (now() - lastAt < everyMs) return;
    const [line] = view.liveLines();
    if (line === undefined) return;
    // The elapsed time alone changing is no news.
    const counts = line.slice(0, line.lastIndexOf(' · '));
    if (counts === lastLine) return;
    write(line);
    lastAt = now();
    lastLine = counts;
  };
}

export interface BatchLiveOptions {
  readonly phases?: PhaseTasks;
  readonly columns: number;
  readonly now?: () => number;
  /** Calls `frame` every so often until the returned function is called (tests and the bench drive it by hand). */
  readonly ticker?: (frame: () => void) => () => void;
}

/** How often the live lines are redrawn: ten a second reads as live and costs little (docs/benchmarks.md). */
export const frameMs = 100;

const intervalTicker = (frame: () => void) => {
  const timer = setInterval(frame, frameMs);
  timer.unref();
  return () => clearInterval(timer);
};

/** The batch view on a terminal: its live lines redrawn in place at most every `frameMs`. */
export function batchLiveRenderer(
  write: (text: string) => void,
  options: BatchLiveOptions,
): {
  handle(event: RunEvent): void;
  /** The question between batches, drawn under the batch's line; undefined clears it. */
  note(text: string | undefined): void;
  /** Prints a line for good above the live lines (the interrupt's notice). */
  say(text: string): void;
  /** Redraws the live lines now. */
  frame(): void;
  finished(): Promise<void>;
} {
  const now = options.now ?? (() => performance.now());
  const area = new LiveArea(write, options.columns);
  const view = new BatchView(options.phases, now);
  // On a terminal the header would list every host (the batch lines say who runs), and
  // the pause is counted down under the batch line.
  const plain = plainPart((line) => area.print([line]), false, new Set(['start', 'pause']));
  let pause: { event: Extract<RunEvent, { event: 'pause' }>; endsAt: number } | undefined;
  const frame = () => {
    if (pause) view.note(pauseLine(pause.event, (pause.endsAt - now()) / 1000));
    area.draw(view.liveLines());
  };
  const stop = (options.ticker ?? intervalTicker)(frame);
  return {
    handle(event) {
      if (event.event === 'batch' || event.event === 'confirm' || event.event === 'recap') pause = undefined;
      if (event.event === 'pause') pause = { event, endsAt: now() + event.seconds * 1000 };
      area.print(view.handle(event));
      if (event.event === 'recap') {
        stop();
        area.clear();
      }
      plain(event);
    },
    note(text) {
      // The question comes once the pause is over; it takes the pause's place.
      pause = undefined;
      view.note(text);
      frame();
    },
    say(text) {
      area.print([text]);
    },
    frame,
    async finished() {
      stop();
      area.clear();
    },
  };
}
