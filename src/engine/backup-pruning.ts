import { errorMessage } from '../errors.js';
import type { HostConfig } from '../playbook/types.js';
import { bytesOf, type PrunePlan } from '../tasks/backup-prune.js';
import { retentionText } from '../tasks/backup-retention.js';
import { backupsInUse, backupUpcoming } from './host-run-view.js';
import type { RunContext } from './run-context.js';

/**
 * A host whose run succeeded: its backups beyond backup.keep go (--check: are
 * named). Only controller files change, so a problem here is reported and
 * never fails the host. `memplay restore` takes no backup and prunes none.
 */
export async function pruneBackups(ctx: RunContext, host: HostConfig): Promise<void> {
  const { playbook, check, deps } = ctx;
  const connected = ctx.fleet.connected(host.name);
  if (ctx.options.job.kind === 'restore' || !connected || ctx.recap.hasFailed(host.name)) return;
  const { run } = connected;
  const keep = playbook.backup.keep;
  const report = (plan: PrunePlan | undefined, freedBytes: number, problems: readonly string[]) => {
    const pruned = plan?.prune ?? [];
    if (pruned.length === 0 && problems.length === 0) return;
    if (pruned.length > 0) ctx.recap.pruned(host.name, pruned.length, freedBytes);
    ctx.emit({
      event: 'backups-pruned',
      host: host.name,
      check,
      folder: plan?.folder ?? playbook.backup.dir,
      keep: retentionText(keep),
      pruned: pruned.map((backup) => ({
        file: backup.file,
        created_at: backup.createdAtMs === null ? null : new Date(backup.createdAtMs).toISOString(),
        bytes: bytesOf(backup),
        reason: backup.reason,
      })),
      freed_bytes: freedBytes,
      kept: plan?.kept ?? 0,
      ...(problems.length > 0 ? { problems } : {}),
    });
  };
  let plan: PrunePlan;
  try {
    plan = await deps.planBackupPrune(playbook.backup.dir, host.name, keep, {
      nowMs: Date.now(),
      inUse: backupsInUse(run),
      upcoming: check && backupUpcoming(run),
    });
  } catch (error) {
    report(undefined, 0, [`cannot read the backup folder: ${errorMessage(error)}`]);
    return;
  }
  if (check) {
    report(
      plan,
      plan.prune.reduce((sum, backup) => sum + bytesOf(backup), 0),
      [],
    );
    return;
  }
  const result = await deps.removePrunedBackups(plan);
  const notRemoved = plan.prune.length - result.removed.length;
  report(
    { ...plan, kept: plan.kept + notRemoved, prune: result.removed },
    result.freedBytes,
    result.problems,
  );
  if (result.removed.length > 0 || result.problems.length > 0) {
    ctx.options.journal?.append({
      entry: 'prune',
      host: host.name,
      removed: result.removed.flatMap((backup) => backup.files.map((file) => file.path)),
      freed_bytes: result.freedBytes,
      ...(result.problems.length > 0 ? { problems: result.problems } : {}),
    });
  }
}
