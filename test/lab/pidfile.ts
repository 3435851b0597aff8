import { readFile, readlink, rm } from 'node:fs/promises';
import { waitFor } from './exec.js';

/** The pid in `pidfile`, or null if there is no such file or it holds no pid. */
export async function readPid(pidfile: string): Promise<number | null> {
  try {
    const text = (await readFile(pidfile, 'utf8')).trim();
    return /^[0-9]+$/.test(text) ? Number(text) : null;
  } catch {
    return null;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The executable a live process runs, or null if it is gone (or a zombie). */
export async function executableOf(pid: number): Promise<string | null> {
  try {
    return (await readlink(`/proc/${pid}/exe`)).replace(/ \(deleted\)$/, '');
  } catch {
    return null;
  }
}

/**
 * The pid in `pidfile` if that process is alive and runs an executable `isExpected`
 * accepts; a stale pidfile (dead process, or a reused pid now running something else)
 * reads as null.
 */
export async function livePid(pidfile: string, isExpected: (exe: string) => boolean): Promise<number | null> {
  const pid = await readPid(pidfile);
  if (pid === null || !isAlive(pid)) return null;
  const exe = await executableOf(pid);
  return exe !== null && isExpected(exe) ? pid : null;
}

/**
 * Stops the process named by `pidfile` (SIGTERM, then SIGKILL after a grace period)
 * and removes the pidfile. Processes are only ever found through their pidfile: a
 * lab must never kill a process of the same name that is not its own.
 */
export async function stopByPidfile(
  pidfile: string,
  isExpected: (exe: string) => boolean,
  what: string,
): Promise<void> {
  const pid = await livePid(pidfile, isExpected);
  if (pid !== null) {
    process.kill(pid, 'SIGTERM');
    try {
      await waitFor(`${what} (pid ${pid}) to exit`, async () => (await executableOf(pid)) === null, 5_000);
    } catch {
      process.kill(pid, 'SIGKILL');
      await waitFor(
        `${what} (pid ${pid}) to exit after SIGKILL`,
        async () => (await executableOf(pid)) === null,
      );
    }
  }
  await rm(pidfile, { force: true });
}
