import { errorMessage } from '../errors.js';
import { gatherFacts, type HostFacts } from '../facts/host-facts.js';
import { restoreBackup } from '../memcached/backup-pass.js';
import { speaksMeta } from '../memcached/backup-path.js';
import { verifyBackup } from '../memcached/backup-reader.js';
import { keyDigestId } from '../memcached/key-index.js';
import { NewSideGuard } from '../memcached/new-side-guard.js';
import { type OldSideFence, writeFenceRecord } from '../memcached/old-side-fence.js';
import { serviceControl } from '../service/service.js';
import { formatBytes, formatCount } from '../units.js';
import { backup as backupTask } from './backup.js';
import { installDropIn, memoryFilesOf, restartOnBuild } from './instance.js';
import { connectMeta, restoreProgress } from './memcached-client.js';
import { restartOnPackage } from './package-return.js';
import { markRestored } from './restore-marker.js';
import type { FinishedBackup, HostRun, Job, TaskContext, TaskFigures } from './task.js';
import { newHostRun, ok, sealedBackup } from './task.js';

// What the engine runs when swap, restore or verify fails after swap stopped the
// old instance: stop whatever runs now, point `current` back at the build that
// ran before, start it, and restore this run's backup into it (add mode, so a
// value a client wrote in the meantime wins). The host still counts as failed;
// the rollback's own event says whether its data came back.

export interface RollbackOutcome {
  readonly status: 'ok' | 'changed' | 'failed';
  readonly detail: string;
  readonly figures?: TaskFigures;
}

/** True once swap has taken the old instance down in this run: only then is there anything to undo. */
export function needsRollback(job: Job, run: HostRun): boolean {
  return (job.kind === 'upgrade' || job.kind === 'rollback') && run.swap.stoppedAt !== undefined;
}

export async function rollBack(ctx: TaskContext): Promise<RollbackOutcome> {
  // Upgraded from the distribution's package (current named nothing): back to the package's binary.
  const toPackage = (ctx.run.swap.previousBuild ?? null) === null ? ctx.run.swap.previousPackage : undefined;
  const previous = toPackage ? toPackage.binaryVersion : (ctx.run.swap.previousBuild ?? null);
  const backup = sealedBackup(ctx.run);
  const keep = backup ? ` The backup is ${backup.path}: memplay restore --from it once a build serves.` : '';
  if (previous === null || (previous === ctx.target.version && !toPackage)) {
    return {
      status: 'failed',
      detail: `no build to roll back to (current named ${previous ?? 'nothing'} before the swap) — start a build by hand.${keep}`,
    };
  }
  const facts = await gatherFacts(ctx.host, ctx.transport, {
    packageInstall: ctx.run.startFacts?.packageInstall,
  });
  const expectedLink = toPackage ? null : previous;
  if (facts.runningVersion === previous && facts.currentLink === expectedLink) {
    return { status: 'ok', detail: `${previous} never stopped and keeps serving: nothing to roll back` };
  }
  if (!toPackage) {
    // A return to the package (memplay rollback) may have removed the drop-in: the unit must run `current` again.
    const unitReady = await installDropIn(ctx);
    if (!unitReady.ok)
      return { status: 'failed', detail: `rollback to ${previous}: ${unitReady.reason}.${keep}` };
  }
  // The new build still serves: what clients wrote to it since the swap is carried
  // back the way the upgrade carried it forward — a backup of it (full pass, delta
  // pass, the fence up to its exit), restored into the old build. Otherwise the
  // run's backup, less what clients are known to have changed since.
  let source = backup;
  let fence: OldSideFence | undefined;
  let carryProblem: string | undefined;
  if (facts.runningVersion === ctx.target.version) {
    try {
      const carried = await backUpServingInstance(ctx, facts);
      source = carried;
      fence = carried.fence;
    } catch (error) {
      carryProblem = `backing up the new build before stopping it failed (${errorMessage(error)}): writes clients made to it are lost, and the run's backup is restored instead`;
    }
  } else if (ctx.run.account.outOfServiceMs !== undefined) {
    // It served clients once (swap finished) and is gone now: what they wrote went with it.
    carryProblem = `${ctx.target.version} no longer served: writes clients made to it are lost`;
  }
  const leaveOut = new Set(source === backup ? (ctx.run.swap.fenceRecord?.excluded ?? []) : []);
  const guard = ctx.run.restore.guard;
  if (source === backup && guard) {
    // Lookups clients made on the new build (reads, deletes): those keys must not come back older.
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
  guard?.close();
  if (fence && source) {
    await fence.checkBeforeStop();
    await writeFenceRecord(source.path, fence.pending());
  }
  // SIGUSR1 where memplay sends the signal: the fence's stream then ends complete (swap.ts).
  const graceful = fence !== undefined && serviceControl(ctx.host).stopForRestart !== undefined;
  const afterStop = async () => {
    if (!fence || !source) return;
    const record = await fence.settle(graceful ? undefined : 'stopped by systemd with SIGTERM');
    await writeFenceRecord(source.path, record);
    for (const id of record.excluded) leaveOut.add(id);
  };
  const restarted = toPackage
    ? await restartOnPackage(ctx, toPackage, { afterStop })
    : await restartOnBuild(ctx, previous, {
        forRestart: graceful,
        afterStop,
        // The new build may run on a memory file: the old build must start clean from the backup.
        setAside: graceful ? memoryFilesOf(ctx) : [],
        // As it ran before the swap when that is known: the playbook's args may be what the new build refused.
        ...(ctx.run.swap.previousCommandLine ? { argv: ctx.run.swap.previousCommandLine } : {}),
      });
  if (!restarted.ok) {
    if (restarted.step === 'stop') fence?.abort();
    const down =
      restarted.step === 'stop'
        ? `could not stop what runs: ${restarted.reason}`
        : restarted.step === 'start'
          ? `it did not start: ${restarted.reason} — the host is DOWN; start ${toPackage ? `${toPackage.unit} (the package's ${toPackage.binary})` : `${ctx.host.memcached.prefix}/current/bin/memcached`} by hand`
          : `${restarted.reason} — the host is DOWN`;
    return { status: 'failed', detail: `rollback to ${previous}: ${down}.${keep}` };
  }
  const refused = ctx.run.swap.previousCommandLineRefused;
  // Said whenever it applies: the old instance may have run with other arguments than the playbook's.
  const startedWith = refused
    ? `; started with the playbook's args, not the command line read from the host, because ${refused}`
    : '';
  if (!source)
    return {
      status: 'changed',
      detail: `rolled back to ${previous}, serving on port ${ctx.host.memcached.port}; no backup was taken in this run, so it started empty${startedWith}`,
    };
  const client = await connectMeta(ctx);
  try {
    ctx.progress(`restore ${formatCount(source.items)} items into ${previous}`);
    // An old build without meta (before 1.6.10) takes classic adds, and has no
    // change stream for the guard: client deletes during the restore are not undone.
    const classic = !speaksMeta(previous);
    const rollbackGuard = classic
      ? undefined
      : await NewSideGuard.open(() => ctx.transport.openTcp(ctx.host.memcached.port), client, source.items);
    const result = await restoreBackup(client, source.path, {
      mode: 'add',
      onProgress: restoreProgress(ctx, `restore into ${previous}`),
      leaveOut,
      ...(rollbackGuard ? { onStored: rollbackGuard.onStored } : { via: 'text' as const }),
      ...(source.verifiedHeader ? { alreadyVerified: source.verifiedHeader } : {}),
    });
    rollbackGuard?.countOwnStores(result.stored + result.keptNewer);
    const guarded = rollbackGuard ? await rollbackGuard.settle(client) : { removed: 0, possiblyStale: 0 };
    rollbackGuard?.close();
    const unguarded = classic
      ? `memcached ${previous} has no change stream: keys clients deleted while the backup was restored into it may be back`
      : undefined;
    // Added to the forward restore's: a delete it undid on the new build is carried back with the rest.
    ctx.run.account.possiblyStale = {
      count:
        (ctx.run.account.possiblyStale?.count ?? 0) +
        guarded.possiblyStale +
        (fence ? 0 : (ctx.run.swap.fenceRecord?.unknown ?? 0)),
      ...(carryProblem || unguarded ? { unknown: [carryProblem, unguarded].filter(Boolean).join('; ') } : {}),
    };
    ctx.run.account.leftOut = (ctx.run.account.leftOut ?? 0) + result.leftOut + guarded.removed;
    await markRestored(source.path, {
      host: ctx.host.name,
      into: previous,
      stored: result.stored,
      keptNewer: result.keptNewer,
    });
    const lost = result.tooLarge.length + result.outOfMemory.length + result.unaddressable.length;
    const from =
      source === backup ? source.path : `${source.path}, a backup of ${ctx.target.version} as it served`;
    return {
      status: lost > 0 ? 'failed' : 'changed',
      figures: {
        items: result.stored,
        bytes: result.valueBytes,
        kept_newer: result.keptNewer,
        left_out: result.leftOut + guarded.removed,
        too_large: result.tooLarge.length,
        out_of_memory: result.outOfMemory.length,
        unaddressable: result.unaddressable.length,
        backup_file: source.path,
      },
      detail: `rolled back to ${previous}, serving on port ${ctx.host.memcached.port} with ${formatCount(result.stored + result.keptNewer)} items / ${formatBytes(result.valueBytes)} restored from ${from}${result.leftOut ? `; ${formatCount(result.leftOut)} left out as clients changed them after it was read` : ''}${carryProblem ? `; ${carryProblem}` : ''}${lost > 0 ? `; ${formatCount(lost)} items could not be stored` : ''}${startedWith}`,
    };
  } catch (error) {
    return {
      status: 'failed',
      detail: `rolled back to ${previous}, serving, but restoring the backup failed: ${errorMessage(error)}.${keep}`,
    };
  } finally {
    client.close();
  }
}

/** A backup of the instance being rolled back from, sealed and read back, its fence open until it stops. */
async function backUpServingInstance(ctx: TaskContext, facts: HostFacts): Promise<FinishedBackup> {
  const run = newHostRun();
  const inner: TaskContext = { ...ctx, run };
  ctx.progress(`back up ${ctx.target.version} as it serves, clients' writes included`);
  await backupTask.apply(inner, ok('rollback', facts));
  if (!run.backup.open) throw new Error('the backup did not start');
  const sealed = await run.backup.open.finish();
  const verification = await verifyBackup(sealed.path);
  if (!verification.ok) {
    sealed.fence?.abort();
    throw verification.error;
  }
  return { ...sealed, verifiedHeader: verification.header };
}
