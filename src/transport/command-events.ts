// What the ssh and local transports share beyond the Transport interface: the
// per-command record behind `-v`, a raw-bytes variant of `run`, and the exit
// code convention for a command killed by a signal.

import { constants } from 'node:os';
import type { ShellCommand } from './quote.js';
import type { RunOptions, Transport } from './transport.js';

/** One finished command, for the verbose log. */
export interface CommandEvent {
  readonly host: string;
  readonly command: string;
  /** The exit status; 128+N for signal N as a shell reports it; -1 if there was none (timeout). */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

export interface TransportHooks {
  readonly onCommand?: (event: CommandEvent) => void;
}

export interface RawRunResult {
  readonly code: number;
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

/**
 * Reports one command to the verbose log, however it ends. Both transports use
 * it, so a command looks the same in `-v` whether it ran over ssh or locally.
 */
export function commandRecorder(hooks: TransportHooks, host: string, command: string, started: number) {
  const finished = (result: RawRunResult) =>
    hooks.onCommand?.({
      host,
      command,
      code: result.code,
      stdout: result.stdout.toString('utf8'),
      stderr: result.stderr.toString('utf8'),
      durationMs: Date.now() - started,
    });
  return {
    finished,
    /** Records a command killed for running past `timeoutMs`; returns the error to reject with. */
    timedOut(stdout: readonly Buffer[], stderr: readonly Buffer[], timeoutMs: number): Error {
      const note = `\n[memplay: timed out after ${timeoutMs} ms]\n`;
      finished({
        code: -1,
        stdout: Buffer.concat(stdout),
        stderr: Buffer.concat([...stderr, Buffer.from(note)]),
      });
      return new Error(`${host}: command timed out after ${timeoutMs} ms: ${command}`);
    },
  };
}

/** A Transport that can also hand back a command's output as bytes (binary dumps, checksums of raw data). */
export interface RawTransport extends Transport {
  runRaw(command: ShellCommand, options?: RunOptions): Promise<RawRunResult>;
}

/** The exit code a POSIX shell reports for a command killed by `signal` (`KILL` or `SIGKILL`). */
export function exitCodeForSignal(signal: string): number {
  const name = (signal.startsWith('SIG') ? signal : `SIG${signal}`) as keyof typeof constants.signals;
  const number = constants.signals[name];
  return number === undefined ? -1 : 128 + number;
}

/** Caps how many commands run at once on one connection; the rest wait their turn in order. */
export class CommandSlots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter, so `active` stays the same.
      if (next) next();
      else this.active -= 1;
    };
  }
}
