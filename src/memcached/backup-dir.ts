import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { quote } from '../transport/quote.js';
import { safePathPart } from './backup-layout.js';

// A backup holds every cached value of a host, and restore loads whatever file
// it finds. A folder others may write to lets them replace or remove backups,
// so such a folder is refused, never silently fixed: someone set those bits,
// and should decide.

/** The folder a host's backups go to: `<dir>/<host>`. */
export function hostBackupDir(dir: string, host: string): string {
  return join(dir, safePathPart(host));
}

/**
 * Why `dir` and the host's folder under it cannot hold backups, or undefined when
 * they can. A folder that does not exist yet is fine: the writer creates it 0700.
 */
export async function backupDirProblem(dir: string, host: string): Promise<string | undefined> {
  for (const folder of [dir, hostBackupDir(dir, host)]) {
    let mode: number;
    try {
      mode = (await stat(folder)).mode;
    } catch (error) {
      // Missing, or under a file: not a matter of who may write; creating it fails and says why.
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      return `cannot check backup folder ${folder}: ${(error as Error).message}`;
    }
    const writable = [mode & 0o020 ? 'group' : '', mode & 0o002 ? 'others' : ''].filter(Boolean);
    if (writable.length > 0) {
      const octal = (mode & 0o7777).toString(8).padStart(4, '0');
      return (
        `backup folder ${folder} is writable by ${writable.join(' and ')} (mode ${octal}), who could replace ` +
        `or remove backups; refusing to write the cache there — run chmod 700 ${quote(folder)} (or pick another backup.dir)`
      );
    }
  }
  return undefined;
}
