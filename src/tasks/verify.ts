import { TaskFailed } from '../errors.js';
import type { TaskModule } from './task.js';
import { ok } from './task.js';

// verify changes nothing: its plan is the check. In --check it runs against the
// facts the earlier plans predict; in apply, against facts gathered after them.
export const verify: TaskModule = {
  name: 'verify',
  async plan(ctx, facts) {
    const { version } = ctx.target;
    const port = ctx.host.memcached.port;
    if (facts.runningVersion === null) {
      throw new TaskFailed(
        ctx.host.name,
        'verify',
        `nothing answers on port ${port}; expected ${version} — check the service and its log on the host`,
      );
    }
    if (facts.runningVersion !== version) {
      throw new TaskFailed(
        ctx.host.name,
        'verify',
        `port ${port} answers ${facts.runningVersion}, expected ${version} — is another instance bound to the port?`,
      );
    }
    if (facts.currentLink !== version) {
      throw new TaskFailed(
        ctx.host.name,
        'verify',
        `${ctx.host.memcached.prefix}/current points at ${facts.currentLink ?? 'nothing'}, expected ${version}`,
      );
    }
    return ok(`${version} answers on port ${port}`, facts);
  },
  async apply(_ctx, plan) {
    return { status: 'ok', detail: plan.detail };
  },
};
