import { errorMessage } from '../errors.js';
import { queryMemcached } from '../facts/memcached-port.js';
import type { FenceRecord } from '../memcached/old-side-fence.js';
import { metaWaiting, pointBuildLink, restartOnBuild, startInstance, stopInstance } from './instance.js';
import { connectMeta } from './memcached-client.js';
import { markRestored } from './restore-marker.js';
import { clientChangesSinceStart } from './sample-check.js';
import type { TaskContext } from './task.js';
import { failureOf, type TaskFailure } from './task.js';
import { type PreparedProof, type ProofResult, proveWarmRestart } from './warm-proof.js';

// The two ways swap takes a host from the old build to the new one once the
// backup is sealed. Warm: SIGUSR1 (memcached writes `<file>.meta`), start the
// new build on the same memory file, prove the result against the backup. Any
// step of it that falls short lands on the cold path: stop whatever runs with
// SIGTERM, set a `.meta` aside, start clean, and leave the backup to restore.

const fail: TaskFailure = failureOf('swap');

export type WarmAttempt =
  /** `servingAt`: performance.now() when the new build answered on the port (clients are served from then on). */
  | { readonly ok: true; readonly proof: ProofResult; readonly servingAt: number }
  | { readonly ok: false; readonly reason: string };

/** Tries the warm path. Throws only when the old instance could not be stopped: nothing else is safe then. */
export async function attemptWarmRestart(
  ctx: TaskContext,
  memoryFile: string,
  proof: PreparedProof,
  oldRunning: boolean,
  settleFence: (inexact?: string) => Promise<FenceRecord | undefined>,
): Promise<WarmAttempt> {
  const { version } = ctx.target;
  if (oldRunning) {
    const stopped = await stopInstance(ctx, { forRestart: true });
    if (!stopped.ok) fail(ctx, stopped.reason);
  }
  // What clients changed after the backup was sealed, up to the old process's exit.
  const fence = await settleFence();
  if (!(await metaWaiting(ctx, memoryFile))) {
    return {
      ok: false,
      reason: `no ${memoryFile}.meta after the stop (was the instance stopped with SIGTERM?)`,
    };
  }
  const repointed = await pointBuildLink(ctx, 'current', version);
  if (!repointed.ok) fail(ctx, repointed.reason);
  const started = await startInstance(ctx, version);
  if (!started.ok)
    return { ok: false, reason: `${version} did not start on ${memoryFile}: ${started.reason}` };
  const servingAt = performance.now();
  ctx.progress(
    `prove the resumed cache against the backup${ctx.playbook.verify.full ? ' (every item)' : ''}`,
  );
  const client = await connectMeta(ctx);
  try {
    const result = await proveWarmRestart(client, proof, {
      full: ctx.playbook.verify.full,
      ...(fence
        ? {
            expectations: {
              changedSinceBackup: new Set(fence.excluded),
              unknownChanges: fence.unknown,
            },
          }
        : {}),
    });
    if (!result.ok) return { ok: false, reason: `the resumed cache ${result.detail}` };
    // The backup is now what this run carried over: a re-run must never replay it over newer writes.
    await markRestored(proof.backupPath, {
      host: ctx.host.name,
      into: version,
      warm: true,
      items: result.items,
    });
    return { ok: true, proof: result, servingAt };
  } catch (error) {
    return {
      ok: false,
      reason: `proving the resumed cache failed: ${errorMessage(error)}`,
    };
  } finally {
    client.close();
  }
}

/**
 * Before a fallback stops a new build that already served: how many changes
 * clients made to it (lost with it; where the backup holds an older value of
 * such a key, the restore brings that back). Counted into possibly_stale.
 */
export async function changesServedSoFar(ctx: TaskContext): Promise<number> {
  const stats = await queryMemcached(ctx.transport, ctx.host.memcached.port, (client) => client.stats());
  return stats ? clientChangesSinceStart(stats) : 0;
}

/** The cold path from wherever a warm attempt stopped: the new build serving empty, ready for restore. */
export async function coldStart(ctx: TaskContext, memoryFile: string | undefined): Promise<void> {
  const { version } = ctx.target;
  const restarted = await restartOnBuild(ctx, version, {
    setAside: memoryFile === undefined ? [] : [memoryFile],
  });
  if (!restarted.ok)
    fail(
      ctx,
      restarted.step === 'start' ? `${version} did not start: ${restarted.reason}` : restarted.reason,
    );
}
