import { gatherFacts } from '../facts/host-facts.js';
import { restoreBackup } from '../memcached/backup-pass.js';
import { keyDigestId } from '../memcached/key-index.js';
import { pointBuildLink, startInstance, stopInstance } from './instance.js';
import { connectMeta, formatBytes, formatCount, restoreProgress } from './memcached-client.js';
import { markRestored } from './restore-marker.js';
import type { HostRun, Job, TaskContext } from './task.js';

// What the engine runs when swap, restore or verify fails after swap stopped the
// old instance: stop whatever runs now, point `current` back at the build that
// ran before, start it, and restore this run's backup into it (add mode, so a
// value a client wrote in the meantime wins). The host still counts as failed;
// the rollback's own event says whether its data came back.

export interface RollbackOutcome {
  readonly status: 'ok' | 'changed' | 'failed';
  readonly detail: string;
}

/** True once swap has taken the old instance down in this run: only then is there anything to undo. */
export function needsRollback(job: Job, run: HostRun): boolean {
  return (job.kind === 'upgrade' || job.kind === 'rollback') && run.stoppedAt !== undefined;
}

export async function rollBack(ctx: TaskContext): Promise<RollbackOutcome> {
  const previous = ctx.run.previousBuild ?? null;
  const backup = ctx.run.backupFile;
  const keep = backup ? ` The backup is ${backup.path}: memplay restore --from it once a build serves.` : '';
  if (previous === null || previous === ctx.target.version) {
    return {
      status: 'failed',
      detail: `no build to roll back to (current named ${previous ?? 'nothing'} before the swap) — start a build by hand.${keep}`,
    };
  }
  const facts = await gatherFacts(ctx.host, ctx.transport);
  if (facts.runningVersion === previous && facts.currentLink === previous) {
    return { status: 'ok', detail: `${previous} never stopped and keeps serving: nothing to roll back` };
  }
  // Keys clients changed since the backup — on the old instance after the seal, on the
  // new one since the restore began — must not go back older: they are left out.
  const leaveOut = new Set(ctx.run.fenceRecord?.excluded ?? []);
  const guard = ctx.run.newSideGuard;
  if (guard) {
    const probe = await connectMeta(ctx).catch(() => null);
    if (probe) {
      try {
        for (const key of await guard.touchedSinceRestore(probe))
          leaveOut.add(keyDigestId(Buffer.from(key, 'latin1')));
      } catch {
        // The new instance is already gone: what its watch saw is all there is.
      } finally {
        probe.close();
      }
    }
  }
  const stopped = await stopInstance(ctx);
  guard?.close();
  if (!stopped.ok)
    return {
      status: 'failed',
      detail: `rollback to ${previous} could not stop what runs: ${stopped.reason}.${keep}`,
    };
  const pointed = await pointBuildLink(ctx, 'current', previous);
  if (!pointed.ok)
    return {
      status: 'failed',
      detail: `rollback to ${previous}: ${pointed.reason} — the host is DOWN.${keep}`,
    };
  // As it ran before the swap when that is known: the playbook's args may be what the new build refused.
  const started = await startInstance(ctx, previous, ctx.run.previousCommandLine ?? undefined);
  if (!started.ok) {
    return {
      status: 'failed',
      detail: `rollback to ${previous}: it did not start: ${started.reason} — the host is DOWN; start ${ctx.host.memcached.prefix}/current/bin/memcached by hand.${keep}`,
    };
  }
  if (!backup)
    return {
      status: 'changed',
      detail: `rolled back to ${previous}, serving on port ${ctx.host.memcached.port}; no backup was taken in this run, so it started empty`,
    };
  const client = await connectMeta(ctx);
  try {
    ctx.progress(`restore ${formatCount(backup.items)} items into ${previous}`);
    const result = await restoreBackup(client, backup.path, {
      mode: 'add',
      onProgress: restoreProgress(ctx, `restore into ${previous}`),
      leaveOut,
      ...(backup.verifiedHeader ? { alreadyVerified: backup.verifiedHeader } : {}),
    });
    await markRestored(backup.path, {
      host: ctx.host.name,
      into: previous,
      stored: result.stored,
      keptNewer: result.keptNewer,
    });
    const lost = result.tooLarge.length + result.outOfMemory.length + result.unaddressable.length;
    return {
      status: lost > 0 ? 'failed' : 'changed',
      detail: `rolled back to ${previous}, serving on port ${ctx.host.memcached.port} with ${formatCount(result.stored + result.keptNewer)} items / ${formatBytes(result.valueBytes)} restored from ${backup.path}${result.leftOut ? `; ${formatCount(result.leftOut)} left out as clients changed them since the backup` : ''}${lost > 0 ? `; ${formatCount(lost)} items could not be stored` : ''}`,
    };
  } catch (error) {
    return {
      status: 'failed',
      detail: `rolled back to ${previous}, serving, but restoring the backup failed: ${error instanceof Error ? error.message : String(error)}.${keep}`,
    };
  } finally {
    client.close();
  }
}
