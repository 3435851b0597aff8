import { type StdioOptions, spawn } from 'node:child_process';

export interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly wallMs: number;
}

/**
 * Runs a program (no shell) to its end, timing it from spawn to exit.
 * `cgroupProcs`: a cgroup's cgroup.procs (cpu-account.ts) the program joins
 * before it starts, through a `sh` that writes its pid there and execs it.
 */
export function runProgram(
  file: string,
  args: readonly string[],
  options: {
    stdout?: number;
    timeoutMs?: number;
    cwd?: string;
    env?: NodeJS.ProcessEnv;
    cgroupProcs?: string;
  } = {},
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const stdio: StdioOptions = ['ignore', options.stdout ?? 'pipe', 'pipe'];
    const started = performance.now();
    const [command, argv] = options.cgroupProcs
      ? ['/bin/sh', ['-c', 'echo $$ > "$0" && exec "$@"', options.cgroupProcs, file, ...args]]
      : [file, args];
    const child = spawn(command, argv, { stdio, cwd: options.cwd, env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const timer = setTimeout(() => child.kill('SIGTERM'), options.timeoutMs ?? 180_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, wallMs: performance.now() - started });
    });
  });
}

/** runProgram, rejecting unless it exits 0. */
export async function runOk(
  file: string,
  args: readonly string[],
  options: Parameters<typeof runProgram>[2] = {},
): Promise<Finished> {
  const finished = await runProgram(file, args, options);
  if (finished.code !== 0) {
    const status = finished.signal ? `signal ${finished.signal}` : `exit ${finished.code}`;
    throw new Error(`${[file, ...args].join(' ')}: ${status}\n${finished.stderr.trim().slice(-2000)}`);
  }
  return finished;
}
