import { HostUnreachable } from '../errors.js';
import { backupInUse, type HostRun, type Job } from '../tasks/task.js';
import { sh } from '../transport/quote.js';
import type { Transport } from '../transport/transport.js';

// A task that fails because the host's ssh connection went away has not found
// anything wrong with the host: memcached may be serving fine, only memplay
// cannot see it. Such a failure is reported as unreachable (exit 3), never
// rolled back over the dead connection, and its message says what state the
// host was left in and what a plain re-run will do from there.

const probeTimeoutMs = 10_000;

/**
 * Whether the host's connection is gone. A task sees a dead connection through
 * whatever it was doing (a tunnel to memcached closing reads as "memcached
 * closed the connection"), so one trivial command decides; one that does not
 * come back in time counts as lost too.
 */
export async function connectionLost(transport: Transport, error: unknown): Promise<boolean> {
  if (error instanceof HostUnreachable) return true;
  try {
    await transport.run(sh`true`, { timeoutMs: probeTimeoutMs });
    return false;
  } catch {
    return true;
  }
}

export interface LostConnection {
  readonly job: Job;
  readonly host: string;
  readonly task: string;
  /** The version the run takes the host to. */
  readonly target: string;
  readonly port: number;
  /** What the port answered when memplay last looked, before the connection went. */
  readonly lastSeenVersion: string | null;
  readonly run: HostRun;
}

function rerun(job: Job): string {
  switch (job.kind) {
    case 'upgrade':
      return 'memplay apply';
    case 'restore':
      return `memplay restore --from ${job.from}`;
    default:
      return `memplay ${job.kind}`;
  }
}

/** What the operator reads: where the host was left and what the re-run does from there. */
export function lostConnectionDetail(lost: LostConnection): string {
  const { host, task, target, port, run } = lost;
  const again = `re-run ${rerun(lost.job)} once ssh to ${host} works again`;
  const head = `the ssh connection to ${host} was lost during ${task}`;
  const backup = backupInUse(run)?.path;
  if (run.swap.stoppedAt === undefined) {
    const serving = lost.lastSeenVersion
      ? `${lost.lastSeenVersion} keeps serving on port ${port}`
      : `nothing answered on port ${port} before it`;
    const leftovers =
      task === 'build'
        ? '; the unfinished build is cleared by the next one'
        : task === 'backup' || task === 'swap'
          ? '; the unfinished backup file is removed'
          : '';
    return `${head}: nothing was stopped, ${serving}${leftovers}. ${cap(again)}: it carries on from ${task}`;
  }
  if (backup === undefined) {
    return `${head}, after it began stopping the old instance; this run had no items to carry over. ${cap(again)}: it starts ${target} if nothing serves`;
  }
  if (run.restore.restored) {
    return `${head}: ${host} runs ${target} with its items restored from ${backup}; only the check did not finish. ${cap(again)} to check it`;
  }
  if (task === 'swap') {
    return `${head}, after it began stopping the old instance: port ${port} may serve nothing until the re-run, and the items are in ${backup}. ${cap(again)}: it finds that backup unrestored, starts ${target} and restores it (add mode)`;
  }
  return `${head}: ${host} already runs ${target}, and its items are in ${backup}, not yet all restored. ${cap(again)}: it finds that backup unrestored and restores it into ${target} (add mode: what clients wrote since is kept), then verifies`;
}

function cap(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
