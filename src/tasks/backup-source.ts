import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { hostBackupDir } from '../memcached/backup-dir.js';
import { BACKUP_EXTENSION } from '../memcached/backup-layout.js';

export class BackupSourceError extends Error {
  override name = 'BackupSourceError';
}

/**
 * The backup file `memplay restore --from PATH` means for a host: PATH itself
 * when it is a file, else the newest `<PATH>/<host>/*.mpbak` (file names start
 * with their UTC time, so the last in order is the newest).
 */
export async function backupFileFor(from: string, host: string): Promise<string> {
  const info = await stat(from).catch(() => null);
  if (!info) throw new BackupSourceError(`--from ${from} does not exist on the controller`);
  if (info.isFile()) return from;
  // Where backup-writer.ts puts them: an instance's `host:port` is written `host_port`.
  const hostDir = hostBackupDir(from, host);
  const names = await readdir(hostDir).catch(() => [] as string[]);
  const newest = names
    .filter((name) => name.endsWith(BACKUP_EXTENSION) && !name.startsWith('.'))
    .sort()
    .at(-1);
  if (!newest) {
    throw new BackupSourceError(
      `no ${BACKUP_EXTENSION} backup for ${host} in ${hostDir} — pass --from a backup file or the backup.dir folder`,
    );
  }
  return join(hostDir, newest);
}
