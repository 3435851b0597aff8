import { type HostConfig, hostOf } from '../playbook/types.js';
import type { AnyTaskModule, BuildPeer } from '../tasks/task.js';
import {
  exceedsFailureBudget,
  exceedsMaxFail,
  failureBudget,
  forEachLimited,
  instancesApart,
  rollingBatches,
} from './batches.js';
import { betweenBatches } from './between-batches.js';
import { ensureConnected } from './connect-host.js';
import { runHostPhase } from './host-runner.js';
import type { OrderedEmission } from './ordered-emission.js';
import type { Phase } from './pipeline.js';
import type { RunContext } from './run-context.js';

/** Each host's first selected target: the one that builds for all of a host's instances. */
function firstInstances(hosts: readonly HostConfig[]): HostConfig[] {
  const seen = new Set<string>();
  return hosts.filter((host) => {
    const key = hostOf(host);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * An instance whose sibling went first in the prepare phase plans against the host as
 * that sibling left it (its build installed): read again in apply; in --check, the
 * host-wide facts the sibling's last plan predicts.
 */
async function hostAsLeft(ctx: RunContext, target: HostConfig): Promise<void> {
  const state = ctx.fleet.connected(target.name);
  if (!state) return;
  if (!ctx.check) {
    state.facts = await ctx.deps
      .gatherFacts(target, state.transport, { platform: state.facts.platform })
      .catch(() => state.facts);
    return;
  }
  const sibling = ctx.hosts.find(
    (other) =>
      other.name !== target.name && hostOf(other) === hostOf(target) && ctx.fleet.connected(other.name),
  );
  const before = sibling && ctx.fleet.connected(sibling.name);
  if (!before) return;
  const { builds, currentLink, previousLink } = before.facts;
  state.facts = { ...state.facts, builds, currentLink, previousLink };
}

/** The strategy's failure limit the run's failed hosts are over, if any, in words. */
export function failureLimitExceeded(
  ctx: RunContext,
): { readonly limit: string; readonly above: string } | undefined {
  const failed = ctx.fleet.failedCount();
  const total = ctx.hosts.length;
  const { maxFailPercentage, maxFailedHosts } = ctx.playbook.strategy;
  if (exceedsMaxFail(failed, total, maxFailPercentage)) {
    return { limit: 'max_fail_percentage', above: `above max_fail_percentage ${maxFailPercentage}%` };
  }
  if (maxFailedHosts && exceedsFailureBudget(failed, total, maxFailedHosts)) {
    const budget =
      maxFailedHosts.kind === 'count'
        ? `${maxFailedHosts.count}`
        : `${maxFailedHosts.percent}% (${failureBudget(total, maxFailedHosts)} of ${total} hosts)`;
    return { limit: 'max_failed_hosts', above: `above max_failed_hosts ${budget}` };
  }
  return undefined;
}

/**
 * One phase over the fleet: a `fleet` phase as one batch, a `serial` phase in
 * the strategy's batches (--check: one, shown as apply's batches), with the
 * strategy's pause and question between batches and its failure limits after each.
 */
export async function runPhase(
  ctx: RunContext,
  ordered: OrderedEmission,
  phase: Phase,
  laterTasks: readonly AnyTaskModule[],
): Promise<void> {
  const { check, emit, fleet, options, playbook, stop } = ctx;
  const onTarget = (host: HostConfig) => {
    const state = fleet.connected(host.name);
    return (
      state !== undefined &&
      state.facts.runningVersion === state.target.version &&
      state.facts.currentLink === state.target.version
    );
  };
  const apartKey = instancesApart(playbook.strategy, ctx.hosts);
  const apart = apartKey && ((host: HostConfig) => apartKey(host.name));
  const batches =
    phase.batches === 'fleet' || check
      ? [[...ctx.hosts]]
      : rollingBatches(ctx.hosts, playbook.strategy.serial, onTarget, apart);
  // Set once a batch of this phase has run hosts not already on target: the
  // strategy's pause and question come between such a batch and the next.
  let changingBatchRan = false;
  for (const [batchIndex, batch] of batches.entries()) {
    const runnable = batch.filter((h) => fleet.runnable(h.name));
    const position = {
      phase: phase.name,
      batch: batchIndex + 1,
      batches: batches.length,
      hosts: runnable.map((h) => h.name),
    };
    if (changingBatchRan && runnable.length > 0 && stop.reason === undefined) {
      const go = await betweenBatches(position, {
        strategy: playbook.strategy,
        emit,
        signal: options.signal,
        assumeYes: options.assumeYes === true,
        ...(options.confirmBatch ? { confirmBatch: options.confirmBatch } : {}),
      });
      if (go === 'declined') {
        emit({
          event: 'aborted',
          reason: `batch ${position.batch} of ${position.batches} (${position.hosts.join(', ')}) was not confirmed; no further batch starts`,
        });
        stop.decline(`not started: batch ${position.batch} of ${position.batches} was not confirmed`);
      }
    }
    const why = stop.reason;
    if (why !== undefined) {
      for (const host of runnable) ctx.recap.skip(host.name, [...phase.tasks, ...laterTasks], why);
      for (const host of runnable) fleet.stop(host.name);
      continue;
    }
    if (runnable.length === 0) continue;
    const settled = phase.batches === 'serial' && !check && batch.every(onTarget);
    if (check && phase.batches === 'serial') {
      // Planned all at once, shown as apply's batches.
      const layout = rollingBatches(runnable, playbook.strategy.serial, onTarget, apart);
      ordered.begin(
        layout.map((hostsOfBatch, index) => ({
          hosts: hostsOfBatch.map((h) => h.name),
          header: {
            event: 'batch',
            phase: phase.name,
            batch: index + 1,
            batches: layout.length,
            hosts: hostsOfBatch.map((h) => h.name),
            ...(hostsOfBatch.every(onTarget) ? { on_target: true as const } : {}),
          },
        })),
      );
    } else {
      emit({ event: 'batch', ...position, ...(settled ? { on_target: true as const } : {}) });
    }
    // Every host of the batch is connected first, so each task can see which hosts
    // it runs beside and what they are (one build per platform), decided the same
    // way on every host whatever order they connect in.
    await forEachLimited(runnable, options.forks, async (host) => {
      await ensureConnected(ctx, host);
    });
    // One build per host: only a host's first instance is a build peer; the others
    // take their turn after it (inTurn below) and find its build installed.
    const peers = firstInstances(runnable).flatMap((host): BuildPeer[] => {
      const state = fleet.connected(host.name);
      return state ? [{ name: host.name, facts: state.facts, target: state.target }] : [];
    });
    ctx.instances.startBatch(phase.batches === 'serial' ? runnable : []);
    await forEachLimited(runnable, options.forks, (host) =>
      (phase.batches === 'fleet'
        ? ctx.instances.inTurn(host, async (waited) => {
            if (waited) await hostAsLeft(ctx, host);
            await runHostPhase(ctx, host, phase, laterTasks, peers);
          })
        : runHostPhase(ctx, host, phase, laterTasks, peers)
      ).finally(() => ordered.finished(host.name)),
    );
    ordered.end();
    if (!settled) changingBatchRan = true;
    const tooMany = check || stop.stopped ? undefined : failureLimitExceeded(ctx);
    if (tooMany) {
      emit({
        event: 'aborted',
        reason: `${fleet.failedCount()} of ${ctx.hosts.length} hosts failed, ${tooMany.above}; no further batch starts`,
      });
      stop.stop(`not started: ${tooMany.limit} exceeded`);
    }
  }
}
