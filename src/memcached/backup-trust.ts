import { lstat } from 'node:fs/promises';
import { describeUser, runningUid } from './backup-dir.js';

// Restore loads a backup's items into a live cache, where clients read them as
// truth. memplay writes its backups 0600, owned by the user it runs as; a file
// another user owns, one others may write to, or a link to somewhere else was
// not written by memplay (or was changed since), and restoring it would serve
// whatever its author put there. Such a file is refused unless the user says
// they know where it came from (--trust-backup).

export const TRUST_FLAG = '--trust-backup';

/** Why `path` is not a backup memplay wrote, or undefined when it may be one. */
export async function untrustedBackupReason(path: string): Promise<string | undefined> {
  const info = await lstat(path).catch(() => undefined);
  // Missing, or gone: reading it fails and says so.
  if (!info) return undefined;
  if (info.isSymbolicLink()) return 'it is a symbolic link';
  if (!info.isFile()) return undefined;
  const uid = runningUid();
  if (uid !== undefined && info.uid !== uid) {
    return `it belongs to ${describeUser(info.uid)}, not to ${describeUser(uid)} who runs memplay`;
  }
  const writable = [info.mode & 0o020 ? 'group' : '', info.mode & 0o002 ? 'others' : ''].filter(Boolean);
  if (writable.length > 0) {
    const octal = (info.mode & 0o7777).toString(8).padStart(4, '0');
    return `it is writable by ${writable.join(' and ')} (mode ${octal})`;
  }
  return undefined;
}

/** The refusal of an untrusted backup, with the way past it; undefined when it is trusted. */
export async function untrustedBackupProblem(path: string, trusted: boolean): Promise<string | undefined> {
  if (trusted) return undefined;
  const reason = await untrustedBackupReason(path);
  if (reason === undefined) return undefined;
  return (
    `refusing to restore ${path}: ${reason}, so memplay did not write it (or it was changed since) — ` +
    `if you know where it came from, pass ${TRUST_FLAG}`
  );
}
