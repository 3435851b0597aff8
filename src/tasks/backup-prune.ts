import { unlink } from 'node:fs/promises';
import type { BackupRetention } from '../playbook/types.js';
import { catalogHostBackups } from './backup-catalog.js';
import { applyRetention, type RetentionContext } from './backup-retention.js';

// After a run succeeds on a host, its backups beyond `backup.keep` go: the plan
// is the decision (--check shows it and stops), the removal deletes exactly
// the files the plan lists. A backup file goes before its sidecars: a removal
// cut short between the two leaves a sidecar without its backup (removed by
// the next prune), never a backup that has lost its `.restored` marker and
// would pass for one still to be restored.

export interface PrunedBackup {
  /** The backup's file name (or an orphaned sidecar's) in the host's folder. */
  readonly file: string;
  /** ms since the epoch; null for an orphaned sidecar. */
  readonly createdAtMs: number | null;
  /** Its files, the backup first, and their sizes. */
  readonly files: readonly { readonly path: string; readonly bytes: number }[];
  readonly reason: string;
}

export interface PrunePlan {
  readonly folder: string;
  /** The backups that stay (this run's, unrestored ones and unreadable files included). */
  readonly kept: number;
  readonly prune: readonly PrunedBackup[];
}

export interface PruneResult {
  readonly removed: readonly PrunedBackup[];
  readonly freedBytes: number;
  /** Files that could not be removed, and why; their backup stays. */
  readonly problems: readonly string[];
}

export function bytesOf(backup: PrunedBackup): number {
  return backup.files.reduce((sum, file) => sum + file.bytes, 0);
}

/** Which of the host's backups `keep` removes now. Reads the folder; changes nothing. */
export async function planBackupPrune(
  dir: string,
  host: string,
  keep: BackupRetention,
  context: RetentionContext,
): Promise<PrunePlan> {
  const { folder, backups, orphanSidecars } = await catalogHostBackups(dir, host);
  const retained = applyRetention(backups, keep, context);
  const prune = retained
    .filter((backup) => !backup.retention.keep)
    .map(
      (backup): PrunedBackup => ({
        file: backup.file,
        createdAtMs: backup.backup?.createdAtMs ?? null,
        files: [
          { path: backup.path, bytes: backup.bytes - backup.sidecars.reduce((sum, s) => sum + s.bytes, 0) },
          ...backup.sidecars,
        ],
        reason: backup.retention.reason,
      }),
    );
  for (const orphan of orphanSidecars) {
    prune.push({
      file: orphan.file,
      createdAtMs: null,
      files: [{ path: orphan.path, bytes: orphan.bytes }],
      reason: 'a sidecar whose backup was removed before',
    });
  }
  return { folder, kept: retained.length - retained.filter((b) => !b.retention.keep).length, prune };
}

/** Removes what the plan lists, and nothing else. */
export async function removePrunedBackups(plan: PrunePlan): Promise<PruneResult> {
  const removed: PrunedBackup[] = [];
  const problems: string[] = [];
  let freedBytes = 0;
  for (const backup of plan.prune) {
    let gone = 0;
    for (const [index, file] of backup.files.entries()) {
      try {
        await unlink(file.path);
      } catch (error) {
        // Gone already (another run pruned it): nothing to free.
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
        problems.push(`cannot remove ${file.path}: ${(error as Error).message}`);
        // The backup itself stayed: so do its sidecars (its `.restored` marker above all).
        if (index === 0) break;
        continue;
      }
      gone += 1;
      freedBytes += file.bytes;
    }
    if (gone > 0) removed.push(backup);
  }
  return { removed, freedBytes, problems };
}
