import { stat } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { BACKUP_EXTENSION } from '../memcached/backup-layout.js';
import { BackupFileError, readBackupHeader } from '../memcached/backup-reader.js';
import { untrustedBackupProblem } from '../memcached/backup-trust.js';
import { BackupSourceError, backupFileFor } from '../tasks/backup-source.js';

// `restore --from` is a command-line argument: a path that does not exist, a file that
// is not a memplay backup, or a folder with no backup for any selected host is a
// mistake on the command line (exit 5), found before any host is contacted. Only the
// header is read here; the restore task still verifies the whole file per host.

/**
 * Throws UsageError when `from` cannot serve any of `hostNames`, or names a backup
 * file memplay did not write (without `trusted`: --trust-backup).
 */
export async function checkRestoreSource(
  from: string,
  hostNames: readonly string[],
  trusted = false,
): Promise<void> {
  const info = await stat(from).catch(() => undefined);
  if (!info) {
    throw new UsageError(
      `--from ${from}: no such file or folder on this machine; give a ${BACKUP_EXTENSION} file, or the backup.dir folder holding <host>/*${BACKUP_EXTENSION}`,
    );
  }
  if (info.isFile()) {
    const untrusted = await untrustedBackupProblem(from, trusted);
    if (untrusted) throw new UsageError(untrusted);
    await readBackupHeader(from).catch((error: unknown) => {
      if (!(error instanceof BackupFileError)) throw error;
      throw new UsageError(
        `--from ${from} is not a backup memplay can restore: ${error.detail}; give a ${BACKUP_EXTENSION} file written by memplay backup or apply`,
      );
    });
    return;
  }
  const found = await Promise.all(
    hostNames.map((host) =>
      backupFileFor(from, host).then(
        async (file) => {
          const untrusted = await untrustedBackupProblem(file, trusted);
          if (untrusted) throw new UsageError(`${host}: ${untrusted}`);
          return true;
        },
        (error: unknown) => {
          if (error instanceof BackupSourceError) return false;
          throw error;
        },
      ),
    ),
  );
  if (!found.includes(true)) {
    throw new UsageError(
      `--from ${from} holds no backup for ${hostNames.join(', ')} (looked for ${from}/<host>/*${BACKUP_EXTENSION}); give the backup.dir folder that memplay backup wrote to, or one ${BACKUP_EXTENSION} file`,
    );
  }
}
