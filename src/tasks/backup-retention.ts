import { awaitingRestore } from '../memcached/backup-purpose.js';
import type { BackupRetention } from '../playbook/types.js';
import type { CatalogedBackup } from './backup-catalog.js';

// Below tasks/ so the report can use them too (src/report/backups-view.ts).
export { awaitingRestore } from '../memcached/backup-purpose.js';
export { retentionText } from '../playbook/retention-text.js';

// Which backups of a host `backup.keep` keeps, decided from the folder's
// catalog alone (no disk, no clock of its own): the same decision serves the
// prune after a run, its --check, and `memplay backups`. Limits rank every
// backup memplay can read, newest first; what a run or a re-run still needs is
// kept whatever its rank or age.

export type Retention = { readonly keep: boolean; readonly reason: string };

export interface RetentionContext {
  /** The controller's clock, ms since the epoch: ages are counted to it. */
  readonly nowMs: number;
  /** The backups this run holds (taken, reused or restored by it): never removed. */
  readonly inUse: ReadonlySet<string>;
  /** --check: this run would take a backup that does not exist yet; it ranks as the newest. */
  readonly upcoming: boolean;
}

export interface RetainedBackup extends CatalogedBackup {
  readonly retention: Retention;
}

/** Each backup (newest first, as catalogued) with whether it is kept and why. */
export function applyRetention(
  backups: readonly CatalogedBackup[],
  keep: BackupRetention,
  context: RetentionContext,
): RetainedBackup[] {
  let rank = context.upcoming ? 1 : 0;
  const counting = context.upcoming ? ', counting the one this run takes' : '';
  const within = [
    keep.count !== undefined ? `among the newest ${keep.count}` : '',
    keep.maxAge ? `younger than ${keep.maxAge.text}` : '',
  ]
    .filter(Boolean)
    .join(', ');
  return backups.map((backup): RetainedBackup => {
    const decide = (keepIt: boolean, reason: string) => ({ ...backup, retention: { keep: keepIt, reason } });
    const facts = backup.backup;
    if (!facts)
      return decide(true, `not a backup memplay reads as this host's (${backup.problem}): never removed`);
    const position = rank++;
    if (context.inUse.has(backup.path)) return decide(true, "this run's backup");
    if (awaitingRestore(backup))
      return decide(true, 'not restored yet: a re-run or memplay restore needs it');
    if (keep.count !== undefined && position >= keep.count)
      return decide(false, `beyond the newest ${keep.count}${counting}`);
    if (keep.maxAge && context.nowMs - facts.createdAtMs > keep.maxAge.seconds * 1000)
      return decide(false, `older than ${keep.maxAge.text}`);
    return decide(true, within || 'backup.keep sets no limit');
  });
}
