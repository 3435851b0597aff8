import type { TaskModule } from './task.js';
import { ok } from './task.js';

export const versionCheck: TaskModule = {
  name: 'version_check',
  async plan(ctx, facts) {
    const running = facts.runningVersion
      ? `running ${facts.runningVersion}${facts.pid ? ` (pid ${facts.pid})` : ''}`
      : `nothing answers on port ${ctx.host.memcached.port}`;
    const builds = facts.builds.length ? facts.builds.map((b) => b.dir).join(', ') : 'none';
    const relation =
      facts.runningVersion === ctx.target.version ? 'already the target' : `target ${ctx.target.version}`;
    return ok(`${running}; builds: ${builds}; ${relation}`, facts);
  },
  async apply(_ctx, plan) {
    return { status: 'ok', detail: plan.detail };
  },
};
