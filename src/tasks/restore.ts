import { errorMessage, TaskFailed } from '../errors.js';
import type { HostFacts } from '../facts/host-facts.js';
import { queryMemcached } from '../facts/memcached-port.js';
import { restoreBackup } from '../memcached/backup-pass.js';
import { BackupFileError, verifyBackup } from '../memcached/backup-reader.js';
import { untrustedBackupProblem } from '../memcached/backup-trust.js';
import { NewSideGuard } from '../memcached/new-side-guard.js';
import { readFenceRecord } from '../memcached/old-side-fence.js';
import { formatBytes, formatCount, formatDuration } from '../units.js';
import { BackupSourceError, backupFileFor } from './backup-source.js';
import { connectMeta, restoreProgress } from './memcached-client.js';
import { markRestored, unrestoredBackup } from './restore-marker.js';
import type { Plan, PlanAction, RestoreDecision, TaskContext, TaskFigures, TaskModule } from './task.js';
import { decided, failureOf, ok, sealedBackup, TaskFailedWithFigures, type TaskFailure } from './task.js';

// Reloads the backup this run took into the new instance (or, for `memplay
// restore`, a backup the user names), in add mode: a value a client already
// wrote is newer than the backup's and wins. A backup that fails its checksum
// is refused before anything is written.

async function planStandalone(
  ctx: TaskContext,
  facts: HostFacts,
  from: string,
): Promise<Plan<RestoreDecision>> {
  if (facts.runningVersion === null)
    fail(ctx, `nothing answers on port ${ctx.host.memcached.port}: start memcached first`);
  let path: string;
  try {
    path = await backupFileFor(from, ctx.host.name);
  } catch (error) {
    if (error instanceof BackupSourceError) fail(ctx, error.message);
    throw error;
  }
  const untrusted = await untrustedBackupProblem(path, ctx.job.trustBackup === true);
  if (untrusted) fail(ctx, `${untrusted}; nothing was written to the host`);
  const verification = await verifyBackup(path);
  if (!verification.ok) {
    fail(ctx, `refusing ${path}: ${verification.error.message} — nothing was written to the host`);
  }
  const { header } = verification;
  const live = header.fullItems + header.deltaItems;
  const file = { path, items: live, valueBytes: header.valueBytes, deltaMs: 0, summary: path };
  const from_ = header.host === ctx.host.name ? '' : ` (backed up from ${header.host})`;
  return decided(
    `restore up to ${formatCount(live)} items / ${formatBytes(header.valueBytes)} from ${path}${from_}, taken ${header.createdAt} on ${header.memcachedVersion}, into ${facts.runningVersion} (add mode: newer values are kept)`,
    facts,
    { kind: 'file', file },
    [restoreAction(live, header.valueBytes, path, facts.runningVersion)],
  );
}

async function leftoverFromInterruptedRun(ctx: TaskContext, facts: HostFacts) {
  if (facts.runningVersion !== ctx.target.version) return null;
  const stats = await queryMemcached(ctx.transport, ctx.host.memcached.port, (client) => client.stats());
  if (!stats) return null;
  const startedAt = Number(stats.get('time')) - Number(stats.get('uptime'));
  return unrestoredBackup(ctx.playbook.backup.dir, ctx.host.name, facts.runningVersion, startedAt, {
    trustBackup: ctx.job.trustBackup === true,
  });
}

/** `planned`: sized from the backup's plan (memcached's stats), not from a file yet. */
function restoreAction(
  items: number,
  bytes: number,
  from: string,
  into: string | null,
  planned = false,
): PlanAction {
  const about = planned ? '~' : '';
  return {
    kind: 'restore',
    items,
    bytes,
    ...(into ? { version: into } : {}),
    text: `restore ${about}${formatCount(items)} items / ${about}${formatBytes(bytes)} from ${from}${into ? ` into ${into}` : ''} (add mode)`,
  };
}

const fail: TaskFailure = failureOf('restore');

export const restore: TaskModule<RestoreDecision> = {
  name: 'restore',
  leavesFactsAlone: true,

  async plan(ctx, facts): Promise<Plan<RestoreDecision>> {
    if (ctx.job.kind === 'restore') return planStandalone(ctx, facts, ctx.job.from);
    // Replaying the backup over a proven warm cache would only bring back what clients deleted since.
    if (ctx.run.swap.warmResumed) {
      return ok(
        `warm: ${formatCount(ctx.run.swap.warmResumed.items)} items resumed, proven by ${ctx.run.swap.warmResumed.proof}: nothing to restore`,
        facts,
      );
    }
    const choice = ctx.run.decisions.swap?.choice;
    const planned = ctx.run.decisions.backup?.kind === 'dump' ? ctx.run.decisions.backup : undefined;
    if (choice?.path === 'handover' && !ctx.run.swap.taken) {
      return ok(
        `handover planned: the backup is restored into ${ctx.target.version} beside the old instance before the swap; nothing to restore after it unless the hand-over falls short`,
        facts,
      );
    }
    if (choice?.path === 'warm' && !ctx.run.swap.taken) {
      const size = planned ? ` (~${formatCount(planned.items)} items / ${formatBytes(planned.bytes)})` : '';
      return ok(
        `warm restart planned: nothing to restore once the proof passes; otherwise restore the backup${size} into ${ctx.target.version}`,
        facts,
      );
    }
    const file = sealedBackup(ctx.run);
    if (file) {
      return decided(
        `restore ${formatCount(file.items)} items / ${formatBytes(file.valueBytes)} from ${file.path}`,
        facts,
        { kind: 'run-backup' },
        [restoreAction(file.items, file.valueBytes, file.path, ctx.target.version)],
      );
    }
    if (ctx.run.decisions.backup) {
      const size = planned ? ` (~${formatCount(planned.items)} items / ${formatBytes(planned.bytes)})` : '';
      return decided(
        `restore the backup taken before the swap${size} into ${ctx.target.version}`,
        facts,
        { kind: 'run-backup' },
        planned
          ? [
              restoreAction(
                planned.items,
                planned.bytes,
                'the backup taken before the swap',
                ctx.target.version,
                true,
              ),
            ]
          : [],
      );
    }
    const leftover = await leftoverFromInterruptedRun(ctx, facts);
    if (leftover) {
      const file = { ...leftover, deltaMs: 0, summary: leftover.path };
      return decided(
        `restore ${formatCount(leftover.items)} items / ${formatBytes(leftover.valueBytes)} that an interrupted run backed up from ${leftover.memcachedVersion} and never restored: ${leftover.path}`,
        facts,
        { kind: 'file', file },
        [restoreAction(leftover.items, leftover.valueBytes, leftover.path, ctx.target.version)],
      );
    }
    return ok('no backup taken in this run: nothing to restore', facts);
  },

  async apply(ctx, plan) {
    const file = plan.decision?.kind === 'file' ? plan.decision.file : sealedBackup(ctx.run);
    if (!file) fail(ctx, 'the backup was never finished — restore it by hand with memplay restore');
    const client = await connectMeta(ctx);
    try {
      // What clients changed on the old instance after the backup was sealed stays out (old-side-fence.ts).
      const fence = ctx.run.swap.fenceRecord ?? (await readFenceRecord(file.path));
      const leaveOut = new Set(fence?.excluded ?? []);
      const guard = await NewSideGuard.open(
        () => ctx.transport.openTcp(ctx.host.memcached.port),
        client,
        file.items,
      );
      ctx.run.restore.guard = guard;
      const evictionsBefore = Number((await client.stats()).get('evictions') ?? 0);
      ctx.progress(`restore ${formatCount(file.items)} items from ${file.path}`);
      const result = await restoreBackup(client, file.path, {
        mode: 'add',
        onProgress: restoreProgress(ctx, 'restore'),
        leaveOut,
        onStored: guard.onStored,
        ...(file.verifiedHeader ? { alreadyVerified: file.verifiedHeader } : {}),
      });
      guard.countOwnStores(
        result.stored + result.keptNewer + result.tooLarge.length + result.outOfMemory.length,
      );
      ctx.progress('undo restored copies of keys clients deleted during the restore');
      const guarded = await guard.settle(client);
      // Items the new instance pushed out to make room: the cache did not fit (restore-order.ts).
      const evicted = Number((await client.stats()).get('evictions') ?? 0) - evictionsBefore;
      const oldSideUnknown = fence ? fence.unknown : 0;
      ctx.run.account.possiblyStale = {
        // Added to what a fallback already counted (a warm start that served, then fell back).
        count: (ctx.run.account.possiblyStale?.count ?? 0) + guarded.possiblyStale + oldSideUnknown,
        ...(fence?.state === 'pending'
          ? {
              unknown:
                'memplay was interrupted while the old instance stopped: changes clients made in its last moments were not collected',
            }
          : {}),
        ...(fence?.inexact ? { unknown: fence.inexact } : {}),
        ...(!fence && sealedBackup(ctx.run)?.warning ? { unknown: sealedBackup(ctx.run)?.warning } : {}),
      };
      const outOfService =
        ctx.run.swap.stoppedAt === undefined ? null : performance.now() - ctx.run.swap.stoppedAt;
      // swap's figure is its part: from the stop until the new build answered.
      const swapPart = ctx.run.account.outOfServiceMs;
      if (outOfService !== null) ctx.run.account.outOfServiceMs = Math.round(outOfService);
      ctx.run.restore.restored = { stored: result.stored, keptNewer: result.keptNewer, from: file };
      ctx.run.account.leftOut = result.leftOut + guarded.removed;
      // Keys left out on purpose (clients changed them after the backup) are misses by design, not losses.
      const live =
        result.stored +
        result.keptNewer +
        result.tooLarge.length +
        result.outOfMemory.length +
        result.unaddressable.length;
      const ratio = live === 0 ? 1 : Math.max(0, result.stored + result.keptNewer - evicted) / live;
      const minRatio = ctx.playbook.verify.minRestoredRatio;
      const notes = [
        result.keptNewer ? `${formatCount(result.keptNewer)} kept as clients rewrote them` : '',
        evicted > 0
          ? `${formatCount(evicted)} evicted by ${ctx.target.version} while restoring: the cache does not fit its memory (-m) as it did the old instance's`
          : '',
        result.leftOut
          ? `${formatCount(result.leftOut)} left out as clients changed them on the old instance after the backup`
          : '',
        guarded.removed
          ? `${formatCount(guarded.removed)} removed again as clients had deleted them during the restore`
          : '',
        ctx.run.account.possiblyStale.count
          ? `possibly stale: ${formatCount(ctx.run.account.possiblyStale.count)}`
          : '',
        ctx.run.account.possiblyStale.unknown
          ? `possibly stale, uncounted: ${ctx.run.account.possiblyStale.unknown}`
          : '',
        guard.unavailable ? `client deletes during the restore not followed: ${guard.unavailable}` : '',
        result.expiredSkipped ? `${formatCount(result.expiredSkipped)} expired before restore, skipped` : '',
        result.tooLarge.length
          ? `${result.tooLarge.length} too large for ${ctx.target.version}: ${result.tooLarge.slice(0, 5).join(', ')}`
          : '',
        result.outOfMemory.length
          ? `${result.outOfMemory.length} did not fit in memory: ${result.outOfMemory.slice(0, 5).join(', ')}`
          : '',
        result.unaddressable.length
          ? `${result.unaddressable.length} unaddressable: ${result.unaddressable.slice(0, 5).join(', ')}`
          : '',
      ].filter(Boolean);
      const summary = `restored ${formatCount(result.stored)} items / ${formatBytes(result.valueBytes)} in ${formatDuration(result.durationMs)}${notes.length ? `; ${notes.join('; ')}` : ''}${outOfService === null ? '' : `; ${outOfServiceWords(Math.round(outOfService), swapPart)}`}`;
      const figures: TaskFigures = {
        items: result.stored,
        bytes: result.valueBytes,
        skipped: result.expiredSkipped,
        kept_newer: result.keptNewer,
        evicted: Math.max(0, evicted),
        left_out: ctx.run.account.leftOut,
        possibly_stale: ctx.run.account.possiblyStale.count,
        too_large: result.tooLarge.length,
        out_of_memory: result.outOfMemory.length,
        unaddressable: result.unaddressable.length,
        backup_file: file.path,
      };
      await markRestored(file.path, {
        host: ctx.host.name,
        into: ctx.target.version,
        stored: result.stored,
        keptNewer: result.keptNewer,
      });
      if (ratio < minRatio) {
        throw new TaskFailedWithFigures(
          ctx.host.name,
          'restore',
          `${summary} — ${(ratio * 100).toFixed(2)}% of the backed-up items, below verify.min_restored_ratio ${minRatio}; the backup stays at ${file.path}`,
          figures,
        );
      }
      return { status: 'changed' as const, detail: summary, figures };
    } catch (error) {
      if (error instanceof TaskFailed) throw error;
      if (error instanceof BackupFileError)
        fail(ctx, `${error.message} — nothing was written; the file is ${file.path}`);
      fail(ctx, `${errorMessage(error)} — the backup stays at ${file.path}`);
    } finally {
      // Held by the guard until verify has looked (it closes it with its watch).
      if (ctx.run.restore.guard === undefined) client.close();
    }
  },
};

/** The host's one out-of-service figure, with its parts named: `out of service 489 ms (swap 208 ms + restore 281 ms)`. */
export function outOfServiceWords(totalMs: number, swapMs: number | undefined): string {
  if (swapMs === undefined || swapMs > totalMs) return `out of service ${totalMs} ms`;
  return `out of service ${totalMs} ms (swap ${swapMs} ms + restore ${totalMs - swapMs} ms)`;
}
