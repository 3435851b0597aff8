import type { HostFacts } from '../facts/host-facts.js';
import type { PackageInstall } from '../facts/package-install.js';
import { serviceControl } from '../service/service.js';
import { sh } from '../transport/quote.js';
import { type RestartOptions, type RestartResult, startInstance, stopInstance } from './instance.js';
import type { Job, TaskContext } from './task.js';

// A host upgraded from the distribution's package goes back to the package's
// binary, not to a build in the prefix: memplay's drop-in removed (the unit's own
// ExecStart, the package's, applies again), the unit restarted, and `current`
// removed so the prefix no longer claims a build runs. The package itself was
// never touched, so its binary and config file are as they were.

/**
 * The package install `memplay rollback` returns a host to: it has no
 * `previous` build (its first swap came from the package) and its unit is a
 * package's. Null otherwise: the rollback aims at `previous`, as always.
 */
export function returnToPackage(job: Job, facts: HostFacts): PackageInstall | null {
  if (job.kind !== 'rollback' || facts.previousLink !== null) return null;
  return facts.packageInstall ?? null;
}

/**
 * Where a failure of an upgrade returns the host when `current` names no build
 * yet: the package the unit ran. Null when the host has a build to return to.
 */
export function upgradingFromPackage(job: Job, facts: HostFacts): PackageInstall | null {
  if (job.kind !== 'upgrade' || facts.currentLink !== null) return null;
  return facts.packageInstall ?? null;
}

/** What the return does, for plans and rollback's words. */
export function describeReturn(ctx: TaskContext, install: PackageInstall): string {
  const dropIn = serviceControl(ctx.host).dropIn?.path ?? '(none)';
  return `remove drop-in ${dropIn} and daemon-reload, restart ${install.unit} on the package's ${install.binary} (${install.binaryVersion ?? 'version unknown'}), remove ${ctx.host.memcached.prefix}/current`;
}

/** Whether memplay's drop-in is in place (read-only). */
export async function dropInPresent(ctx: TaskContext): Promise<boolean> {
  const dropIn = serviceControl(ctx.host).dropIn;
  if (!dropIn) return false;
  const read = await ctx.transport.run(dropIn.read());
  return read.stdout !== '';
}

/**
 * Stop → drop-in removed → `current` removed → start the unit, which runs the
 * package's binary; returns once the port answers with its version. The host is
 * out of service from the stop until then. Stops at the first step that falls short.
 */
export async function restartOnPackage(
  ctx: TaskContext,
  install: PackageInstall,
  options: Pick<RestartOptions, 'afterStop'> = {},
): Promise<RestartResult> {
  const service = serviceControl(ctx.host);
  const version = install.binaryVersion;
  // Refused before the stop: nothing is down yet.
  if (!service.dropIn) {
    return {
      ok: false,
      step: 'stop',
      reason: `${service.describe} has no drop-in: a package install is a systemd unit's`,
    };
  }
  if (version === null) {
    return {
      ok: false,
      step: 'stop',
      reason: `${install.binary} does not report its version: memplay cannot tell when it serves`,
    };
  }
  const stopped = await stopInstance(ctx);
  if (!stopped.ok) return { ok: false, step: 'stop', reason: stopped.reason };
  await options.afterStop?.();
  ctx.progress(`remove ${service.dropIn.path}, daemon-reload`);
  const removed = await ctx.transport.run(service.dropIn.remove(), service.runOptions);
  if (removed.code !== 0) {
    return {
      ok: false,
      step: 'repoint',
      reason: `removing the systemd drop-in ${service.dropIn.path} (then daemon-reload) exited ${removed.code}: ${(removed.stderr || removed.stdout).trim()}`,
    };
  }
  const current = `${ctx.host.memcached.prefix}/current`;
  const unlinked = await ctx.transport.run(sh`rm -f -- ${current}`);
  if (unlinked.code !== 0) {
    return { ok: false, step: 'repoint', reason: `removing ${current} failed: ${unlinked.stderr.trim()}` };
  }
  const started = await startInstance(ctx, version);
  if (!started.ok) return { ok: false, step: 'start', reason: started.reason };
  return { ok: true };
}
