import { unreachableReport } from '../errors.js';
import { hostAsRun } from '../facts/carried-args.js';
import type { HostFacts } from '../facts/host-facts.js';
import type { HostConfig, Target } from '../playbook/types.js';
import { returnToPackage } from '../tasks/package-return.js';
import type { Job } from '../tasks/task.js';
import { newHostRun } from './host-run-view.js';
import type { ConnectedHost, HostState } from './host-state.js';
import type { RunContext } from './run-context.js';

/**
 * Where a host goes. Fixed when the host connects: swap moves `previous` as it
 * goes, and a rollback must keep aiming at the build it found there.
 */
function targetFor(job: Job, target: Target, facts: HostFacts): Target {
  if (job.kind !== 'rollback') return target;
  if (facts.previousLink !== null) return { ...target, version: facts.previousLink };
  // Upgraded from the distribution's package: the rollback returns to its binary.
  const install = returnToPackage(job, facts);
  return install?.binaryVersion ? { ...target, version: install.binaryVersion } : target;
}

/**
 * Connects to a host once: its facts, its target and its lock (--check only
 * looks whether another run holds it). A host that cannot be reached or read
 * is unreachable, and never worked on.
 */
export async function ensureConnected(ctx: RunContext, host: HostConfig): Promise<HostState> {
  const { fleet, deps, options, playbook } = ctx;
  const state = fleet.of(host.name);
  if (state.kind !== 'pending') return state;
  try {
    const transport = await options.connect(host);
    // A host whose facts cannot be read (memcached refusing the credentials) is
    // never worked on: its connection is closed here, or it would keep the run alive.
    // An upgrade reads a host's platform only where the target's build is not there
    // yet: the platform decides who compiles, and most of the probe's cost is reading it.
    const known = options.job.kind === 'upgrade' ? { unlessBuilt: playbook.target.version } : {};
    const facts = await deps.gatherFacts(host, transport, known).catch(async (error: unknown) => {
      await transport.close().catch(() => {});
      throw error;
    });
    const target = targetFor(options.job, playbook.target, facts);
    // The instances of one host share its lock: the first takes it for all of them.
    const hostLock = await ctx.instances.lock(host, () =>
      ctx.check ? deps.peekHostLock(host, transport) : deps.takeHostLock(host, transport, ctx.lockHolder),
    );
    const connected: ConnectedHost = {
      kind: 'connected',
      host: hostAsRun(host, facts),
      transport,
      facts,
      run: newHostRun(facts, hostLock),
      hostLock,
      target,
    };
    fleet.connect(host.name, connected);
    return connected;
  } catch (error) {
    fleet.unreachable(host.name);
    ctx.recap.markUnreachable(host.name);
    ctx.emit({ event: 'unreachable', host: host.name, ...unreachableReport(error) });
    return fleet.of(host.name);
  }
}
