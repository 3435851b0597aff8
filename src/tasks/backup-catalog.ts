import { lstat, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { hostBackupDir } from '../memcached/backup-dir.js';
import { BACKUP_EXTENSION, safePathPart } from '../memcached/backup-layout.js';
import { BackupFileError, readBackupHeader } from '../memcached/backup-reader.js';
import { fencePath } from '../memcached/old-side-fence.js';
import { markerPath } from './restore-marker.js';

// What a host's backup folder holds, read from the controller's disk only: each
// `*.mpbak` with what its header says and the sidecar files memplay wrote beside
// it. Retention (backup-retention.ts) decides from this; `memplay backups` shows it.

/** The files memplay writes beside a backup; they belong to it and go with it. */
export function sidecarsOf(backupFile: string): readonly string[] {
  const fence = fencePath(backupFile);
  return [markerPath(backupFile), fence, `${fence}.partial`];
}

export interface BackupFacts {
  /** When the backup was started (its header's createdAt), ms since the epoch. */
  readonly createdAtMs: number;
  readonly memcachedVersion: string;
  /** The job that took it: `upgrade`, `rollback` or `backup` (absent in backups older than the field). */
  readonly purpose?: string;
  /** The version that job was heading for. */
  readonly target?: string;
  readonly items: number;
  readonly valueBytes: number;
}

export interface CatalogedBackup {
  /** The file's name in the host's folder. */
  readonly file: string;
  readonly path: string;
  /** The backup's bytes on disk, its sidecars included. */
  readonly bytes: number;
  /** The sidecar files that exist beside it. */
  readonly sidecars: readonly SidecarFile[];
  /** `FILE.restored` exists: a restore (or a proven warm restart) loaded it. */
  readonly restored: boolean;
  /** What its header says; absent when the file is not a complete memplay backup of this host. */
  readonly backup?: BackupFacts;
  /** Why it is not taken for one: such a file is listed and never removed. */
  readonly problem?: string;
}

export interface SidecarFile {
  readonly path: string;
  readonly bytes: number;
}

/** A sidecar whose backup is gone (a removal cut short between the two). */
export interface OrphanSidecar extends SidecarFile {
  readonly file: string;
}

export interface HostBackupFolder {
  readonly folder: string;
  /** Newest first; the files that are not readable backups last. */
  readonly backups: readonly CatalogedBackup[];
  readonly orphanSidecars: readonly OrphanSidecar[];
}

async function sizeOf(path: string): Promise<number | undefined> {
  const info = await lstat(path).catch(() => undefined);
  return info?.isFile() ? info.size : undefined;
}

async function factsOf(path: string, host: string): Promise<BackupFacts | string> {
  let header: Awaited<ReturnType<typeof readBackupHeader>>['header'];
  try {
    ({ header } = await readBackupHeader(path));
  } catch (error) {
    return error instanceof BackupFileError ? error.detail : (error as Error).message;
  }
  if (!header.complete) return 'its writer never finished it';
  // The folder is named after the host (safePathPart): a file copied in from another host's is not this one's.
  if (safePathPart(header.host) !== safePathPart(host)) return `a backup of ${header.host}, not ${host}`;
  const createdAtMs = Date.parse(header.createdAt);
  if (Number.isNaN(createdAtMs))
    return `its header has no creation time (${JSON.stringify(header.createdAt)})`;
  const { purpose, target } = header.metadata;
  return {
    createdAtMs,
    memcachedVersion: header.memcachedVersion,
    ...(typeof purpose === 'string' && { purpose }),
    ...(typeof target === 'string' && { target }),
    items: header.fullItems + header.deltaItems,
    valueBytes: header.valueBytes,
  };
}

/** Every `*.mpbak` in `<dir>/<host>/` (none when the folder does not exist). */
export async function catalogHostBackups(dir: string, host: string): Promise<HostBackupFolder> {
  const folder = hostBackupDir(dir, host);
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return { folder, backups: [], orphanSidecars: [] };
    throw error;
  }
  const present = new Set(names);
  // `.NAME.partial` is a backup being written (or one a killed run left): not a backup yet.
  const backupNames = names.filter((name) => name.endsWith(BACKUP_EXTENSION) && !name.startsWith('.'));
  const backups = await Promise.all(
    backupNames.map(async (file): Promise<CatalogedBackup> => {
      const path = join(folder, file);
      const size = await sizeOf(path);
      const sidecars: SidecarFile[] = [];
      for (const sidecar of sidecarsOf(path)) {
        const bytes = present.has(basename(sidecar)) ? await sizeOf(sidecar) : undefined;
        if (bytes !== undefined) sidecars.push({ path: sidecar, bytes });
      }
      const bytes = (size ?? 0) + sidecars.reduce((sum, sidecar) => sum + sidecar.bytes, 0);
      const restored = sidecars.some((sidecar) => sidecar.path === markerPath(path));
      const facts = size === undefined ? 'not a regular file' : await factsOf(path, host);
      return typeof facts === 'string'
        ? { file, path, bytes, sidecars, restored, problem: facts }
        : { file, path, bytes, sidecars, restored, backup: facts };
    }),
  );
  backups.sort(
    (a, b) =>
      (b.backup?.createdAtMs ?? Number.NEGATIVE_INFINITY) -
        (a.backup?.createdAtMs ?? Number.NEGATIVE_INFINITY) || b.file.localeCompare(a.file),
  );
  const orphanSidecars: OrphanSidecar[] = [];
  for (const name of names) {
    const at = name.indexOf(`${BACKUP_EXTENSION}.`);
    if (at <= 0 || name.startsWith('.')) continue;
    const backupName = name.slice(0, at + BACKUP_EXTENSION.length);
    if (present.has(backupName)) continue;
    const path = join(folder, name);
    if (!sidecarsOf(join(folder, backupName)).includes(path)) continue;
    const bytes = await sizeOf(path);
    if (bytes !== undefined) orphanSidecars.push({ file: name, path, bytes });
  }
  return { folder, backups, orphanSidecars };
}
