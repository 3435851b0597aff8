import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  lstatSync,
  openSync,
  readFileSync,
  readlinkSync,
} from 'node:fs';
import { mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { quote } from '../transport/quote.js';
import { safePathPart } from './backup-layout.js';

// A backup holds every cached value of a host, and restore loads whatever file
// it finds. A folder others may write to lets them replace or remove backups,
// so such a folder is refused, never silently fixed: someone set those bits,
// and should decide. The same goes for a folder another user owns (its owner
// can chmod it back, or put files there), and for a symbolic link anywhere
// under backup.dir: memplay running as root followed a journal.jsonl link to
// append to and chmod its target, and a host folder linked elsewhere had an
// unrelated folder chmod 0700 and filled with a backup. So backup.dir, the host
// folders and the journal must be the running user's own and no links, and the
// writers open them without following one (O_NOFOLLOW) and fix modes on the
// open handle (fchmod), so a link swapped in after the check is not followed either.

/** The controller's journal of runs, in backup.dir beside the host folders (src/engine/journal.ts). */
export const JOURNAL_FILE = 'journal.jsonl';

/** The folder a host's backups go to: `<dir>/<host>`. */
export function hostBackupDir(dir: string, host: string): string {
  return join(dir, safePathPart(host));
}

/** The user memplay runs as (undefined where the platform has no uids). */
export function runningUid(): number | undefined {
  return process.geteuid?.();
}

let passwd: Map<number, string> | undefined;

/** `uid 1001 (mpuser)`: a uid as a message shows it. */
export function describeUser(uid: number): string {
  if (!passwd) {
    passwd = new Map();
    try {
      for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
        const [name, , id] = line.split(':');
        if (name && id && !passwd.has(Number(id))) passwd.set(Number(id), name);
      }
    } catch {
      // No passwd file: the number alone still says who.
    }
  }
  const name = passwd.get(uid);
  return name ? `uid ${uid} (${name})` : `uid ${uid}`;
}

/** What a path under backup.dir must be, and why it is not; undefined when it is fine or absent. */
function ownEntryProblem(path: string, kind: 'folder' | 'file'): string | undefined {
  let info: ReturnType<typeof lstatSync>;
  try {
    info = lstatSync(path, { throwIfNoEntry: false });
  } catch (error) {
    // Under a file (ENOTDIR): not a matter of whose it is; the writability check names the file.
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
  if (!info) return undefined;
  if (info.isSymbolicLink()) {
    let target = '';
    try {
      target = ` to ${readlinkSync(path)}`;
    } catch {
      // Unreadable link: that it is one is the problem.
    }
    return `${path} is a symbolic link${target}; memplay follows no link under its backup folder — replace it with a real ${kind}, or set backup.dir to the folder it points to`;
  }
  if (kind === 'file' ? !info.isFile() : !info.isDirectory()) {
    return `${path} is not a ${kind === 'file' ? 'regular file' : 'folder'}; move it away`;
  }
  const uid = runningUid();
  if (uid !== undefined && info.uid !== uid) {
    return (
      `${path} belongs to ${describeUser(info.uid)}, not to ${describeUser(uid)} who runs memplay; its owner could ` +
      `replace the backups memplay restores — run chown -R ${uid} ${quote(path)} (or set backup.dir to a folder of your own)`
    );
  }
  return undefined;
}

/**
 * Why backup.dir, the folders of `hosts` under it or its journal are not the running
 * user's own (a symbolic link, another owner, the wrong kind); undefined when they are.
 * What does not exist yet is fine: memplay creates it as its own.
 */
export function backupFolderOwnershipProblem(
  dir: string,
  hosts: readonly string[],
  journalFile: string,
): string | undefined {
  return (
    ownEntryProblem(dir, 'folder') ??
    ownEntryProblem(join(dir, journalFile), 'file') ??
    hosts.map((host) => ownEntryProblem(hostBackupDir(dir, host), 'folder')).find(Boolean)
  );
}

/** A folder under backup.dir is a link, or not the running user's: found when writing to it. */
export class UntrustedBackupFolder extends Error {
  override name = 'UntrustedBackupFolder';
}

const openFolderFlags = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/**
 * Makes sure `dir` and its host folder are the running user's folders, not links:
 * creates what is missing (0700) and sets the host folder to 0700 on its open handle.
 */
export async function ownHostBackupDir(dir: string, host: string): Promise<string> {
  const hostDir = hostBackupDir(dir, host);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await checkFolder(dir, undefined);
  await mkdir(hostDir, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  await checkFolder(hostDir, 0o700);
  return hostDir;
}

async function checkFolder(path: string, mode: number | undefined): Promise<void> {
  const handle = await open(path, openFolderFlags).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ELOOP' || error.code === 'ENOTDIR') {
      throw new UntrustedBackupFolder(ownEntryProblem(path, 'folder') ?? `${path} is not a folder`);
    }
    throw error;
  });
  try {
    const info = await handle.stat();
    const uid = runningUid();
    if (uid !== undefined && info.uid !== uid) {
      throw new UntrustedBackupFolder(ownEntryProblem(path, 'folder') ?? `${path} is not yours`);
    }
    if (mode !== undefined) await handle.chmod(mode);
  } finally {
    await handle.close();
  }
}

/**
 * Opens `path` for appending without following a link, as a regular file of the
 * running user's with mode 0600 (set on the handle); throws UntrustedBackupFolder otherwise.
 */
export function openOwnFileForAppend(path: string): number {
  let fd: number;
  try {
    fd = openSync(
      path,
      constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW,
      0o600,
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') {
      throw new UntrustedBackupFolder(ownEntryProblem(path, 'file') ?? `${path} is a symbolic link`);
    }
    throw error;
  }
  const info = fstatSync(fd);
  const uid = runningUid();
  if (!info.isFile() || (uid !== undefined && info.uid !== uid)) {
    closeSync(fd);
    throw new UntrustedBackupFolder(ownEntryProblem(path, 'file') ?? `${path} is not your own regular file`);
  }
  fchmodSync(fd, 0o600);
  return fd;
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
