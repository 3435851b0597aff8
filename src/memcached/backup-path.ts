// Which protocol a backup of a running memcached reads it through, by version.
// From memcached's release notes:
//   1.4.31  `lru_crawler metadump` appears: the only way to list every key.
//   1.5.19  meta commands appear, experimental: flags as one token (`mg k svftk`),
//           so 1.6's `mg k v f t c` gets `CLIENT_ERROR incorrect number of tokens`.
//   1.6.0   meta flags become separate tokens.
//   1.6.10  meta is no longer experimental: replies say `HD` (were `OK`), and the
//           `b` flag carries base64 keys. memplay's meta client relies on both.
// Below 1.6.10 the classic text protocol is the one every release speaks the same:
// `gets` reads value, flags and cas; metadump gives each key's expiry.

export type BackupPath = 'meta' | 'metadump-gets';

/** The version from which each path works; below the lowest, no complete backup is possible. */
export const META_BACKUP_SINCE = '1.6.10';
export const METADUMP_SINCE = '1.4.31';

export type BackupPathChoice =
  | { readonly path: BackupPath }
  /** No path reads every item: `why` names the missing command, for the user. */
  | { readonly path: null; readonly why: string };

/** Dotted numbers compared numerically; a suffix (`1.6.38-rc1`) is ignored. */
function versionParts(version: string): number[] {
  return version.split('.').map((part) => Number.parseInt(part, 10) || 0);
}

export function versionAtLeast(version: string, least: string): boolean {
  const have = versionParts(version);
  const want = versionParts(least);
  for (let i = 0; i < Math.max(have.length, want.length); i++) {
    const diff = (have[i] ?? 0) - (want[i] ?? 0);
    if (diff !== 0) return diff > 0;
  }
  return true;
}

/** Whether memplay's meta client (HD replies, `b` keys) can talk to this version at all. */
export function speaksMeta(version: string): boolean {
  return versionAtLeast(version, META_BACKUP_SINCE);
}

export function backupPathFor(version: string): BackupPathChoice {
  if (speaksMeta(version)) return { path: 'meta' };
  if (versionAtLeast(version, METADUMP_SINCE)) return { path: 'metadump-gets' };
  return {
    path: null,
    why: `memcached ${version} has no \`lru_crawler metadump\` (${METADUMP_SINCE} and later), so no client can list its keys`,
  };
}

/** How --check and the task's detail name the path. */
export function describeBackupPath(path: BackupPath): string {
  return path === 'meta' ? 'via meta protocol' : 'via metadump + gets';
}
