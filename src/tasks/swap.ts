import { TaskFailed } from '../errors.js';
import type { HostFacts } from '../facts/host-facts.js';
import { hasWorkingBuild } from '../facts/host-facts.js';
import { verifyBackup } from '../memcached/backup-reader.js';
import {
  dropInChange,
  installDropIn,
  pointBuildLink,
  readBuildLink,
  runningCommandLine,
  startInstance,
  stopInstance,
} from './instance.js';
import type { Outcome, Plan, TaskContext, TaskModule } from './task.js';
import { changed, ok } from './task.js';

// The only task that takes a host out of service: stop the old instance,
// repoint `current` atomically (a new link renamed over the old one), start the
// new build, and wait until the port answers with the target. If the new build
// does not come up, the engine rolls the host back (src/tasks/rollback.ts):
// the old build, started again, with the backup restored into it.

function fail(ctx: TaskContext, detail: string): never {
  throw new TaskFailed(ctx.host.name, 'swap', detail);
}

function describeRunning(facts: HostFacts): string {
  if (!facts.runningVersion) return '';
  return `stop ${facts.runningVersion}${facts.pid ? ` (pid ${facts.pid})` : ''}, `;
}

export const swap: TaskModule = {
  name: 'swap',

  async plan(ctx, facts): Promise<Plan> {
    const { version } = ctx.target;
    const { port, prefix } = ctx.host.memcached;
    if (facts.currentLink === version && facts.runningVersion === version) {
      return ok(`${version} serving on port ${port}`, facts);
    }
    if (!hasWorkingBuild(facts, version)) {
      fail(ctx, `no working build of ${version} in ${prefix}/${version} — run the build task first`);
    }
    const repoint =
      facts.currentLink === version ? '' : `repoint current ${facts.currentLink ?? '(none)'} → ${version}, `;
    const unit = await dropInChange(ctx).then((change) => (change ? `${change}, ` : ''));
    return changed(`${unit}${describeRunning(facts)}${repoint}start ${version} on port ${port}`, {
      ...facts,
      currentLink: version,
      runningVersion: version,
      pid: null,
    });
  },

  async apply(ctx): Promise<Outcome> {
    const { version } = ctx.target;
    const { port } = ctx.host.memcached;
    const previousBuild = await readBuildLink(ctx, 'current');

    if (ctx.run.backup && !ctx.run.backupFile) {
      ctx.progress('delta pass: re-read what changed since the full pass');
      try {
        const sealed = await ctx.run.backup.finish();
        // Never stop the old instance unless the backup reads back whole.
        ctx.progress('verify the backup file');
        const verification = await verifyBackup(sealed.path);
        if (!verification.ok) throw verification.error;
        ctx.run.backupFile = { ...sealed, verifiedHeader: verification.header };
      } catch (error) {
        fail(
          ctx,
          `sealing the backup (delta pass, then a read-back of its checksums) failed: ${error instanceof Error ? error.message : String(error)} — nothing was stopped, the old instance keeps serving`,
        );
      }
    }
    // `previous` is what `memplay rollback` returns to; set while nothing is down
    // yet. A rollback leaves it alone, so running rollback twice is a no-op, not a flip.
    if (ctx.job.kind === 'upgrade' && previousBuild !== null && previousBuild !== version) {
      const remembered = await pointBuildLink(ctx, 'previous', previousBuild);
      if (!remembered.ok)
        fail(ctx, `${remembered.reason} — nothing was stopped, the old instance keeps serving`);
    }
    // systemd: the unit must start whatever `current` names before anything is stopped.
    const unitReady = await installDropIn(ctx);
    if (!unitReady.ok) fail(ctx, `${unitReady.reason} — nothing was stopped, the old instance keeps serving`);
    ctx.run.previousCommandLine = await runningCommandLine(ctx);
    // From here a failure of this or a later task rolls the host back to previousBuild (src/tasks/rollback.ts).
    ctx.run.previousBuild = previousBuild;
    ctx.run.stoppedAt = performance.now();
    const stoppedAt = Date.now();
    const stopped = await stopInstance(ctx);
    if (!stopped.ok) fail(ctx, stopped.reason);
    const repointed = await pointBuildLink(ctx, 'current', version);
    if (!repointed.ok) fail(ctx, repointed.reason);
    const started = await startInstance(ctx, version);
    if (!started.ok) fail(ctx, `${version} did not start: ${started.reason}`);
    const outMs = Date.now() - stoppedAt;
    return {
      status: 'changed',
      detail: `${previousBuild ?? '(none)'} → ${version}, serving on port ${port} (out of service ${outMs} ms)${ctx.run.backupFile?.warning ? `; ${ctx.run.backupFile.warning}` : ''}`,
    };
  },
};
