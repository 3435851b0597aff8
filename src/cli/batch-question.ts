import type { BatchPosition } from '../report/events.js';
import { batchLine } from '../report/plain.js';

// strategy.confirm_between_batches on a terminal: "batch 2 of 3: host2, host3 —
// continue? [y/N]". The terminal is read in raw mode so the live view keeps
// drawing the question and what is typed (a cooked terminal would echo into it),
// and so Ctrl-C arrives as a key: it stops the run as the SIGINT handler does.

export function questionLine(position: BatchPosition): string {
  return `${batchLine(position)} — continue? [y/N] `;
}

/** What a terminal answer needs: stdin, where to show the line being typed, and how Ctrl-C stops the run. */
export interface Terminal {
  readonly input: NodeJS.ReadableStream & { setRawMode?(raw: boolean): unknown };
  /** Shows the question followed by what has been typed so far; undefined: the question is over. */
  readonly show: (typed: string | undefined) => void;
  /** Aborted by Ctrl-C or SIGTERM elsewhere: the question ends with no. */
  readonly signal: AbortSignal;
  /** Ctrl-C typed at the question. */
  readonly interrupt: () => void;
}

// Keys that reach the terminal before the question is on screen (an Enter pressed
// during the run) are not an answer to it.
const typeAheadMs = 150;

/** Enter submits: `y` or `yes` (any case) is yes, anything else no; Ctrl-D is no. */
export function askOnTerminal(terminal: Terminal): Promise<boolean> {
  const { input, show, signal } = terminal;
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const askedAt = Date.now();
    let typed = '';
    const finish = (answer: boolean) => {
      input.off('data', onData);
      signal.removeEventListener('abort', onAbort);
      input.setRawMode?.(false);
      input.pause();
      show(undefined);
      resolve(answer);
    };
    const onAbort = () => finish(false);
    const onData = (chunk: Buffer | string) => {
      if (Date.now() - askedAt < typeAheadMs) return;
      for (const char of chunk.toString()) {
        if (char === '\u0003') {
          finish(false);
          terminal.interrupt();
          return;
        }
        if (char === '\u0004') return finish(false);
        if (char === '\r' || char === '\n') return finish(/^y(es)?$/i.test(typed.trim()));
        if (char === '\u007f' || char === '\b') typed = typed.slice(0, -1);
        else if (char >= ' ') typed += char;
      }
      show(typed);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    input.setRawMode?.(true);
    input.on('data', onData);
    input.resume();
    show('');
  });
}
