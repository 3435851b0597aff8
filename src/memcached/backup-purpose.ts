// What a backup file was taken for, as its header's `purpose` says: the one
// rule retention (src/tasks/backup-retention.ts) and `memplay backups` share.

/**
 * Taken by an upgrade or a rollback before its swap and not restored: the cache
 * of a run that failed or was interrupted, which a re-run or `memplay restore`
 * loads. A `memplay backup` dump is never restored by memplay on its own.
 */
export function awaitingRestore(backup: {
  readonly restored: boolean;
  readonly backup?: { readonly purpose?: string };
}): boolean {
  const purpose = backup.backup?.purpose;
  return !backup.restored && (purpose === 'upgrade' || purpose === 'rollback');
}
