import { execFile } from 'node:child_process';

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
}

/** Thrown when a command the lab depends on fails; the message carries the command and its stderr. */
export class LabError extends Error {
  override name = 'LabError';
}

/** Runs a program (no shell), resolving with its output, rejecting with a LabError naming it. */
export function run(
  file: string,
  args: readonly string[],
  options: { input?: string; cwd?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      file,
      args,
      { cwd: options.cwd, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          const status = error.code ?? error.signal ?? 'failed';
          reject(
            new LabError(`${[file, ...args].join(' ')}: exit ${status}\n${stderr.trim() || stdout.trim()}`),
          );
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
    // A program may exit without reading its input (ssh-keygen when no question comes):
    // the EPIPE that leaves is not a failure, the exit status says whether it failed.
    child.stdin?.on('error', () => {});
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}

/** Like run, but a non-zero exit is an answer (false), not an error. */
export async function succeeds(file: string, args: readonly string[]): Promise<boolean> {
  try {
    await run(file, args);
    return true;
  } catch (error) {
    if (error instanceof LabError) return false;
    throw error;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls until check() is true; rejects with `what` after timeoutMs. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new LabError(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await sleep(50);
  }
}
