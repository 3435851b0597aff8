import { TaskFailed } from '../errors.js';
import { carriesArgs } from '../facts/carried-args.js';
import { hasWorkingBuild, runningMemcached } from '../facts/host-facts.js';
import { describePackageInstall, packageHoldWarning } from '../facts/package-install.js';
import { runningInstanceProblem } from '../facts/running-instance.js';
import { returnToPackage } from './package-return.js';
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
    const install = facts.packageInstall ?? null;
    const carried = carriesArgs(ctx.host, facts);
    if (carried && runningMemcached(facts) === null) {
      throw new TaskFailed(
        ctx.host.name,
        'version_check',
        `${running}; memcached.args is left out, so memplay carries over the running instance's arguments, but none runs to read them from — start ${install?.unit}, or write memcached.args${install?.configFile ? ` (the package's settings are in ${install.configFile})` : ''}`,
      );
    }
    const toPackage = returnToPackage(ctx.job, facts);
    if (toPackage && toPackage.binaryVersion === null) {
      throw new TaskFailed(
        ctx.host.name,
        'version_check',
        `${running}; no ${ctx.host.memcached.prefix}/previous link, and the package's ${toPackage.binary} does not report its version: nothing memplay can roll back to`,
      );
    }
    if (ctx.job.kind === 'rollback' && !toPackage) {
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
    const whence = toPackage ? `the ${toPackage.packageName} package` : 'previous';
    const goal =
      ctx.job.kind === 'rollback'
        ? `roll back to ${ctx.target.version} (${whence})`
        : `target ${ctx.target.version}`;
    const already =
      ctx.job.kind === 'rollback' ? `already on ${ctx.target.version} (${whence})` : 'already the target';
    const relation = facts.runningVersion === ctx.target.version ? already : goal;
    const takenOver = ctx.run.lockTakenOverFrom
      ? `; took over memplay's lock left by a run that is gone (${ctx.run.lockTakenOverFrom})`
      : '';
    // A package install: what it is, the arguments carried over from it, and whether its manager could undo the run.
    const adopted = install ? `; package install: ${describePackageInstall(install)}` : '';
    const args = carried
      ? `; memcached.args carried over from the running instance: ${ctx.host.memcached.args.join(' ') || '(none)'}`
      : '';
    const hold = install ? packageHoldWarning(install) : null;
    const warning = hold ? `; WARNING: ${hold}` : '';
    return ok(`${running}; builds: ${builds}; ${relation}${takenOver}${adopted}${args}${warning}`, facts);
  },
  async apply(_ctx, plan) {
    return { status: 'ok', detail: plan.detail };
  },
};
