import { TaskFailed } from '../errors.js';
import { hasWorkingBuild } from '../facts/host-facts.js';
import { runningInstanceProblem } from '../facts/running-instance.js';
import type { TaskModule } from './task.js';
import { ok } from './task.js';

export const versionCheck: TaskModule = {
  name: 'version_check',
  async plan(ctx, facts) {
    const mismatch = runningInstanceProblem(ctx.host, facts, {
      startsVersion: ctx.target.version,
      acceptSettings: ctx.playbook.verify.acceptSettings,
    });
    if (mismatch) throw new TaskFailed(ctx.host.name, 'version_check', mismatch);
    const running = facts.runningVersion
      ? `running ${facts.runningVersion}${facts.pid ? ` (pid ${facts.pid})` : ''}`
      : `nothing answers on port ${ctx.host.memcached.port}`;
    const builds = facts.builds.length ? facts.builds.map((b) => b.dir).join(', ') : 'none';
    if (ctx.job.kind === 'rollback') {
      // The target is the build `previous` names (src/engine/run.ts targetFor).
      const prefix = ctx.host.memcached.prefix;
      if (facts.previousLink === null) {
        throw new TaskFailed(
          ctx.host.name,
          'version_check',
          `${running}; no ${prefix}/previous link: no apply has swapped this host, so there is no build to roll back to`,
        );
      }
      if (!hasWorkingBuild(facts, facts.previousLink)) {
        throw new TaskFailed(
          ctx.host.name,
          'version_check',
          `${running}; ${prefix}/previous names ${facts.previousLink}, but ${prefix}/${facts.previousLink}/bin/memcached does not report that version — rebuild it with memplay apply on a playbook targeting ${facts.previousLink}`,
        );
      }
    }
    const goal =
      ctx.job.kind === 'rollback'
        ? `roll back to ${ctx.target.version} (previous)`
        : `target ${ctx.target.version}`;
    const already =
      ctx.job.kind === 'rollback' ? `already on ${ctx.target.version} (previous)` : 'already the target';
    const relation = facts.runningVersion === ctx.target.version ? already : goal;
    const takenOver = ctx.run.lockTakenOverFrom
      ? `; took over memplay's lock left by a run that is gone (${ctx.run.lockTakenOverFrom})`
      : '';
    return ok(`${running}; builds: ${builds}; ${relation}${takenOver}`, facts);
  },
  async apply(_ctx, plan) {
    return { status: 'ok', detail: plan.detail };
  },
};
