import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RunEvent } from './events.js';

// Every run (--check too) leaves a record of itself under `.memplay/runs/<time>/`:
// events.jsonl holds every event as `--output json -v` prints it, commands.log
// every remote command with its exit status, duration and output. Events reach
// it already redacted (redact.ts). Logging never fails a run: a log that cannot
// be written warns once and the run goes on without it.

export const defaultLogRoot = join('.memplay', 'runs');

export interface RunLog {
  /** The run's folder, absolute. */
  readonly dir: string;
  record(event: RunEvent): void;
  close(): void;
}

/** ISO 8601 basic format (`20261129T093618.123Z`): sorts by time, and no `:` for scp or tar to trip over. */
export function runFolderName(at: Date): string {
  return at.toISOString().replace(/[-:]/g, '');
}

type CommandEvent = Extract<RunEvent, { event: 'command' }>;

/** One command in commands.log: a header line, the command, then its output if any. */
export function commandEntry(event: CommandEvent, at: Date): string {
  const lines = [
    `=== ${at.toISOString()} ${event.host} exit=${event.code} duration_ms=${event.duration_ms}`,
    `$ ${event.command}`,
  ];
  if (event.stdout) lines.push('--- stdout', event.stdout.replace(/\n$/, ''));
  if (event.stderr) lines.push('--- stderr', event.stderr.replace(/\n$/, ''));
  return `${lines.join('\n')}\n`;
}

function makeRunFolder(root: string, at: Date): string {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const base = join(root, runFolderName(at));
  for (let attempt = 1; ; attempt++) {
    const dir = attempt === 1 ? base : `${base}-${attempt}`;
    try {
      mkdirSync(dir, { mode: 0o700 });
      return dir;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 100) throw error;
    }
  }
}

/**
 * Opens the run's log folder under `root` (relative to the current directory).
 * Returns undefined, after one warning, when it cannot be created.
 */
export function openRunLog(
  root: string,
  warn: (message: string) => void,
  now: () => Date = () => new Date(),
): RunLog | undefined {
  let dir: string;
  let events: number;
  let commands: number;
  try {
    dir = makeRunFolder(resolve(root), now());
    events = openSync(join(dir, 'events.jsonl'), 'wx', 0o600);
    commands = openSync(join(dir, 'commands.log'), 'wx', 0o600);
  } catch (error) {
    warn(
      `memplay: cannot write the run log under ${resolve(root)} (${(error as Error).message}); the run goes on without it — set --log-dir or MEMPLAY_LOG_DIR to a writable folder`,
    );
    return undefined;
  }
  let broken = false;
  const write = (fd: number, text: string) => {
    if (broken) return;
    try {
      writeSync(fd, text);
    } catch (error) {
      broken = true;
      warn(
        `memplay: the run log ${dir} stopped being written (${(error as Error).message}); the run goes on without it`,
      );
    }
  };
  return {
    dir,
    record(event) {
      write(events, `${JSON.stringify(event)}\n`);
      if (event.event === 'command') write(commands, commandEntry(event, now()));
    },
    close() {
      for (const fd of [events, commands]) {
        try {
          closeSync(fd);
        } catch {
          // Already reported by the write that failed, if any.
        }
      }
    },
  };
}
