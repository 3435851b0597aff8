import { TaskFailed } from '../errors.js';
import type { HostFacts } from '../facts/host-facts.js';
import { buildOfLink, hasWorkingBuild } from '../facts/host-facts.js';
import { waitForPort } from '../facts/wait.js';
import { verifyBackup } from '../memcached/backup-reader.js';
import { serviceControl } from '../service/service.js';
import { sh } from '../transport/quote.js';
import type { Outcome, Plan, TaskContext, TaskModule } from './task.js';
import { changed, ok } from './task.js';

// The only task that takes a host out of service: stop the old instance,
// repoint `current` atomically (a new link renamed over the old one), start the
// new build, and wait until the port answers with the target. If the new build
// does not come up, the old link and the old instance are put back.

const stopGraceMs = 10_000;
const startTimeoutMs = 15_000;

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
    return changed(`${describeRunning(facts)}${repoint}start ${version} on port ${port}`, {
      ...facts,
      currentLink: version,
      runningVersion: version,
      pid: null,
    });
  },

  async apply(ctx): Promise<Outcome> {
    const { version } = ctx.target;
    const { port, prefix } = ctx.host.memcached;
    const service = serviceControl(ctx.host);
    const previousLink = await readCurrentLink(ctx);

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
    ctx.progress('stop the running instance');
    ctx.run.stoppedAt = performance.now();
    const stoppedAt = Date.now();
    const stopped = await ctx.transport.run(service.stop(), service.runOptions);
    if (stopped.code !== 0) {
      fail(
        ctx,
        `stopping memcached (${service.describe}) failed: ${stopped.stderr.trim()} — it is still serving`,
      );
    }
    const down = await waitForPort(ctx.transport, port, (v) => v === null, stopGraceMs);
    if (!down.accepted) {
      fail(
        ctx,
        `port ${port} still answers ${down.version} after the stop — another instance holds the port`,
      );
    }

    await repoint(ctx, version);
    const started = await startAndWait(ctx, version);
    if (started.ok) {
      const outMs = Date.now() - stoppedAt;
      return {
        status: 'changed',
        detail: `${previousLink ?? '(none)'} → ${version}, serving on port ${port} (out of service ${outMs} ms)`,
      };
    }

    // The new build did not come up: put the old one back so the host keeps serving.
    if (previousLink === null || previousLink === version) {
      fail(ctx, `${version} did not start: ${started.reason}; nothing to roll back to — the host is DOWN`);
    }
    await ctx.transport.run(service.stop(), service.runOptions);
    await repoint(ctx, previousLink);
    const restored = await startAndWait(ctx, previousLink);
    if (!restored.ok) {
      fail(
        ctx,
        `${version} did not start: ${started.reason}; rolling back to ${previousLink} failed too: ${restored.reason} — the host is DOWN, start it by hand with ${prefix}/current/bin/memcached`,
      );
    }
    fail(ctx, `${version} did not start: ${started.reason}; rolled back: ${previousLink} is serving again`);
  },
};

async function readCurrentLink(ctx: TaskContext): Promise<string | null> {
  const result = await ctx.transport.run(sh`readlink ${`${ctx.host.memcached.prefix}/current`}`);
  const link = result.stdout.trim();
  return result.code === 0 ? buildOfLink(link) : null;
}

async function repoint(ctx: TaskContext, version: string): Promise<void> {
  const current = `${ctx.host.memcached.prefix}/current`;
  const next = `${current}.memplay-new`;
  ctx.progress(`repoint current → ${version}`);
  const result = await ctx.transport.run(sh`ln -sfn ${version} ${next} && mv -T ${next} ${current}`);
  if (result.code !== 0) fail(ctx, `repointing ${current} → ${version} failed: ${result.stderr.trim()}`);
}

async function startAndWait(
  ctx: TaskContext,
  version: string,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  ctx.progress(`start ${version}`);
  const service = serviceControl(ctx.host);
  const start = await ctx.transport.run(service.start(), service.runOptions);
  if (start.code !== 0) {
    return { ok: false, reason: `start exited ${start.code}: ${(start.stderr || start.stdout).trim()}` };
  }
  const up = await waitForPort(ctx.transport, ctx.host.memcached.port, (v) => v === version, startTimeoutMs);
  if (!up.accepted) {
    const seen = up.version ? `answers ${up.version}` : 'nothing answers';
    return { ok: false, reason: `port ${ctx.host.memcached.port}: ${seen} after ${startTimeoutMs / 1000}s` };
  }
  return { ok: true };
}
