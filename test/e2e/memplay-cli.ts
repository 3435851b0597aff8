import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { RunEvent } from '../../src/report/events.js';

const bin = fileURLToPath(new URL('../../bin/memplay.js', import.meta.url));

export interface MemplayRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Parsed JSON lines when run with --output json. */
  readonly events: RunEvent[];
}

/**
 * Runs the built CLI (`npm run build` first) as a user would. `wrapper` is a command the
 * CLI runs under, e.g. `ip netns exec <namespace>`.
 */
export function runMemplay(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  wrapper: readonly string[] = [],
): Promise<MemplayRun> {
  return new Promise((resolve, reject) => {
    const [file, ...rest] = [...wrapper, process.execPath, bin, ...args] as [string, ...string[]];
    const child = spawn(file, rest, { env: { ...process.env, NO_COLOR: '1', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const events = args.includes('json')
        ? stdout
            .split('\n')
            .filter((line) => line.startsWith('{'))
            .map((line) => JSON.parse(line) as RunEvent)
        : [];
      resolve({ code, stdout, stderr, events });
    });
  });
}

export function taskEvents(run: MemplayRun) {
  return run.events.filter((e): e is Extract<RunEvent, { event: 'task' }> => e.event === 'task');
}

export function recapOf(run: MemplayRun) {
  const recap = run.events.find((e): e is Extract<RunEvent, { event: 'recap' }> => e.event === 'recap');
  if (!recap) throw new Error(`no recap event in output:\n${run.stdout}\n${run.stderr}`);
  return recap.hosts;
}

export interface LiveMemplay {
  readonly child: ReturnType<typeof spawn>;
  /** Every JSON event so far, in order. */
  readonly events: RunEvent[];
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** What the CLI wrote to stderr so far: a crash's stack, for the failure message. */
  readonly stderr: () => string;
  readonly finished: () => boolean;
}

/** Starts the CLI with --output json and hands each event to `onEvent` as it arrives. */
export function spawnMemplay(
  args: readonly string[],
  onEvent: (event: RunEvent, live: LiveMemplay) => void,
): LiveMemplay {
  const child = spawn(process.execPath, [bin, ...args, '--output', 'json']);
  const events: RunEvent[] = [];
  let done = false;
  let buffered = '';
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      done = true;
      resolve(code);
    }),
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const live: LiveMemplay = { child, events, exited, finished: () => done, stderr: () => stderr };
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.startsWith('{')) continue;
      const event = JSON.parse(line) as RunEvent;
      events.push(event);
      onEvent(event, live);
    }
  });
  return live;
}
