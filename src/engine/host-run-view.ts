import type { HostFacts } from '../facts/host-facts.js';
import type { HostRecap, SwapPath } from '../report/events.js';
import { swapGuarantee } from '../tasks/guarantee.js';
import {
  backupInUse as backupOfRun,
  newHostRun as emptyRun,
  type FinishedBackup,
  type HostRun,
} from '../tasks/task.js';
import type { HostLock } from './host-lock.js';

// Every read the engine makes of a host's task outputs (HostRun), and the run
// it creates, in one place: the engine depends on what the tasks declare, not
// on how each task fills it in.

/** A host's run state as it connects: what it was found as, and its hold on the host's lock. */
export function newHostRun(startFacts: HostFacts, hostLock: HostLock): HostRun {
  return emptyRun(startFacts, hostLock.kind === 'held' ? hostLock.tookOverFrom : undefined);
}

/** The backup file this host's run holds (written by backup, or read by `memplay restore`), for the journal. */
export function backupInUse(run: HostRun | undefined): string | undefined {
  return run ? backupOfRun(run)?.path : undefined;
}

/** Backup files pruning must keep: the ones this run wrote or read. */
export function backupsInUse(run: HostRun): ReadonlySet<string> {
  return new Set(
    [backupOfRun(run)?.path, run.restore.restored?.from.path].filter(
      (path): path is string => path !== undefined,
    ),
  );
}

/** --check: a backup is planned and not yet written, so pruning counts it as one more. */
export function backupUpcoming(run: HostRun): boolean {
  return run.decisions.backup?.kind === 'dump' && run.backup.sealed === undefined;
}

/** Swap has stopped the old instance: the host must get its restore and verify, or a rollback. */
export function wasTakenDown(run: HostRun): boolean {
  return run.swap.stoppedAt !== undefined;
}

/** The swap path and out-of-service time a host's swap and restore events carry. */
export function swapFields(run: HostRun): {
  swap_mode?: SwapPath;
  swap_reason?: string;
  swap_guarantee?: string;
  out_of_service_ms?: number;
} {
  const path = run.swap.taken ?? run.decisions.swap?.choice;
  return {
    ...(path
      ? { swap_mode: path.path, swap_reason: path.reason, swap_guarantee: swapGuarantee(path.path) }
      : {}),
    ...(run.account.outOfServiceMs !== undefined ? { out_of_service_ms: run.account.outOfServiceMs } : {}),
  };
}

/** What the recap tells of a host's run beyond its task counts. */
export function recapFieldsOf(run: HostRun): Partial<HostRecap> {
  const fields: Partial<HostRecap> = {};
  if (run.swap.taken) fields.swap_mode = run.swap.taken.path;
  if (run.account.outOfServiceMs !== undefined) fields.out_of_service_ms = run.account.outOfServiceMs;
  if (run.account.leftOut !== undefined) fields.left_out = run.account.leftOut;
  if (run.account.possiblyStale) {
    fields.possibly_stale = run.account.possiblyStale.count;
    if (run.account.possiblyStale.unknown)
      fields.possibly_stale_uncounted = run.account.possiblyStale.unknown;
  }
  return fields;
}

/**
 * The end of a host's run: a backup started but never finished (the host
 * stopped before swap) loses its partial file, and the host's lock is released.
 */
export async function closeHostRun(run: HostRun, hostLock: HostLock): Promise<void> {
  if (run.backup.open && !run.backup.sealed) await run.backup.open.abort().catch(() => {});
  if (hostLock.kind === 'held') await hostLock.release().catch(() => {});
}

/**
 * A finished host lets go of what its tasks held for each other: the open
 * backup (its writer, its index of every key's cas, its client), the sealed
 * backup's fence and restore's guard (each with such an index and a client of
 * their own). Their sockets went with the host's connection, their memory did
 * not: a run kept every finished host's until the whole fleet was done, an
 * index of some MB a host for a cache of 100k items. What the recap and the
 * journal read (the backup's path and counts, swap's record, the account) stays.
 */
export function dropHostWork(run: HostRun): void {
  run.backup.open = undefined;
  const { sealed } = run.backup;
  if (sealed) run.backup.sealed = withoutFence(sealed);
  const { restored } = run.restore;
  if (restored) run.restore.restored = { ...restored, from: withoutFence(restored.from) };
  run.restore.guard?.close();
  run.restore.guard = undefined;
}

function withoutFence(backup: FinishedBackup): FinishedBackup {
  if (!backup.fence) return backup;
  // Settled by swap, or never to be: its client and watch are closed either way.
  backup.fence.abort();
  const { fence: _settled, ...rest } = backup;
  return rest;
}
