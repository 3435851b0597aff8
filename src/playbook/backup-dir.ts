import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Diagnostic } from '../errors.js';
import { backupFolderOwnershipProblem, JOURNAL_FILE } from '../memcached/backup-dir.js';
import type { PlaybookSource } from './source.js';
import type { HostConfig, Playbook } from './types.js';

// Every run writes its journal into backup.dir before the first host, and an
// upgrade's backups after; a folder that cannot exist there (a file in its
// path, a read-only file system) would otherwise stop the run with an internal
// error, or a host later with its backup half written. Like an unreadable
// identity_file it is reported at the line that sets it, before any host is
// contacted. Nothing is created here: --check stores nothing.

/**
 * A problem with backup.dir, pointing at the setting (or at `backup`/the top when it is
 * the default): it cannot be written, or it, the folders of `hosts` under it or its
 * journal are a symbolic link or another user's (memplay would write through the link,
 * or restore what that user put there).
 */
export async function backupDirProblems(
  source: PlaybookSource,
  playbook: Playbook,
  hosts: readonly HostConfig[] = [],
): Promise<Diagnostic[]> {
  const dir = playbook.backup.dir;
  const foreign = backupFolderOwnershipProblem(
    dir,
    hosts.map((host) => host.name),
    JOURNAL_FILE,
  );
  if (foreign !== undefined) {
    return [source.diagnostic(['backup', 'dir'], `backup.dir: ${foreign}`)];
  }
  const problem = await unwritableBecause(dir);
  if (problem === undefined) return [];
  return [
    source.diagnostic(
      ['backup', 'dir'],
      `backup.dir: cannot write backups to ${dir}: ${problem}; set backup.dir to a folder memplay can create or write`,
    ),
  ];
}

async function unwritableBecause(dir: string): Promise<string | undefined> {
  // The folder itself, or the nearest ancestor that exists (mkdir -p creates the rest).
  let path = dir;
  for (;;) {
    try {
      const info = await stat(path);
      if (!info.isDirectory())
        return path === dir ? 'it is a file, not a folder' : `${path} is a file, not a folder (ENOTDIR)`;
      await access(path, constants.W_OK | constants.X_OK);
      return undefined;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      // ENOTDIR: a file further up; walking up finds and names it.
      if ((code === 'ENOENT' || code === 'ENOTDIR') && dirname(path) !== path) {
        path = dirname(path);
        continue;
      }
      if (code === 'EROFS') return `${path} is on a read-only file system (EROFS)`;
      if (code === 'EACCES' || code === 'EPERM') return `${path} is not writable (${code})`;
      return (error as Error).message;
    }
  }
}
