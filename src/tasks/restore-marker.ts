import { constants } from 'node:fs';
import { access, open } from 'node:fs/promises';
import { join } from 'node:path';
import { readBackupHeader } from '../memcached/backup-reader.js';
import { untrustedBackupReason } from '../memcached/backup-trust.js';
import { BackupSourceError, backupFileFor } from './backup-source.js';

// A backup is marked once it has been restored (`<file>.restored`), so a re-run
// can tell a backup that an interrupted upgrade never got to restore from one
// that is done: the first is restored again (add mode), the second never is —
// restoring it twice would bring back keys clients deleted since.

export function markerPath(backupFile: string): string {
  return `${backupFile}.restored`;
}

export async function markRestored(backupFile: string, facts: Record<string, unknown>): Promise<void> {
  // Never through a link someone left at the marker's name (O_NOFOLLOW), and 0600 on the handle.
  const handle = await open(
    markerPath(backupFile),
    constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
    0o600,
  );
  try {
    await handle.chmod(0o600);
    await handle.writeFile(`${JSON.stringify({ restoredAt: new Date().toISOString(), ...facts })}\n`);
  } finally {
    await handle.close();
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

const startBackdateSeconds = 62 + 5;

export interface LeftoverBackup {
  readonly path: string;
  readonly items: number;
  readonly valueBytes: number;
  readonly memcachedVersion: string;
}

/**
 * The newest backup of this host that an upgrade (or rollback) to the version
 * running now took from the old version, that was never restored, and before
 * which the running instance did not exist: what a run killed between swap and
 * restore leaves behind. With `anyVersion`, the running version may be any: a
 * run killed after a rollback restarted the old build, or after it stopped the
 * old instance, leaves a cold instance whose data is in that backup.
 */
export async function unrestoredBackup(
  backupDir: string,
  host: string,
  runningVersion: string,
  instanceStartedAt: number,
  /**
   * anyVersion: the running version may be any, but the backup's run was heading for `target`.
   * trustBackup: a file memplay did not write may be the one (--trust-backup).
   */
  options: { anyVersion?: { readonly target: string }; trustBackup?: boolean } = {},
): Promise<LeftoverBackup | null> {
  let path: string;
  try {
    path = await backupFileFor(join(backupDir), host);
  } catch (error) {
    if (error instanceof BackupSourceError) return null;
    throw error;
  }
  if (await exists(markerPath(path))) return null;
  // Another user's file, or one others may write to, is not memplay's leftover to restore.
  if (!options.trustBackup && (await untrustedBackupReason(path)) !== undefined) return null;
  const { header } = await readBackupHeader(path).catch(() => ({ header: null }));
  if (!header?.complete) return null;
  // Backups an upgrade or a rollback took before its swap: both restore into the build they swapped to.
  const swapped = header.metadata.purpose === 'upgrade' || header.metadata.purpose === 'rollback';
  if (!swapped) return null;
  if (options.anyVersion && header.metadata.target !== options.anyVersion.target) return null;
  if (
    !options.anyVersion &&
    (header.metadata.target !== runningVersion || header.memcachedVersion === runningVersion)
  )
    return null;
  // memcached backdates its start by ITEM_UPDATE_INTERVAL + 2 s (memcached.c), so
  // `time - uptime` is ~62 s early; an instance older than that predates the backup.
  if (instanceStartedAt + startBackdateSeconds < (header.serverTimeAtDelta ?? header.serverTimeAtDump))
    return null;
  return {
    path,
    items: header.fullItems + header.deltaItems,
    valueBytes: header.valueBytes,
    memcachedVersion: header.memcachedVersion,
  };
}
