import type { Strategy } from '../playbook/types.js';
import type { PlanSummary } from '../report/events.js';
import type { PlanAction } from '../tasks/task.js';
import { failureBudget, rollingBatches } from './batches.js';

// The fleet summary at the end of --check, added up from the plans' actions: the
// same values apply would act on, so the summary cannot promise what apply skips.

/** What --check learned about one host. */
export interface HostPlanResult {
  readonly host: string;
  /** changed: some task would change it; ok: nothing to do; failed/unreachable: no complete plan. */
  readonly outcome: 'changed' | 'ok' | 'failed' | 'unreachable';
  readonly actions: readonly PlanAction[];
  /** failed: the first task that failed and why. */
  readonly failure?: { readonly task: string; readonly detail: string };
}

/** `apart`: the host of each target name, whose instances apply never batches together. */
export function summarizePlans(
  results: readonly HostPlanResult[],
  strategy: Strategy,
  apart?: (host: string) => string,
): PlanSummary {
  const named = (outcome: HostPlanResult['outcome']) =>
    results.filter((r) => r.outcome === outcome).map((r) => r.host);
  const all = results.flatMap((r) => r.actions.map((action) => ({ host: r.host, action })));
  const backups = all.filter(({ action }) => action.kind === 'backup');
  const stops = new Set(all.filter(({ action }) => action.kind === 'stop').map(({ host }) => host));
  // The layout apply runs: hosts with nothing to change stand for those already on
  // their target, which apply takes first, together.
  const unchanged = new Set(named('ok'));
  const batches = rollingBatches(
    results.map((r) => r.host),
    strategy.serial,
    (host) => unchanged.has(host),
    apart,
  ).map((hosts, index) => ({
    batch: index + 1,
    hosts,
    out_of_service: hosts.filter((host) => stops.has(host)),
    ...(hosts.every((host) => unchanged.has(host)) ? { on_target: true as const } : {}),
  }));
  const unpack = all
    .filter(({ action }) => action.kind === 'unpack')
    .map(({ host, action }) => ({ host, version: action.version ?? '' }));
  return {
    hosts: results.length,
    changing: named('changed'),
    unchanged: named('ok'),
    failed: named('failed'),
    unreachable: named('unreachable'),
    failures: results.flatMap((r) => (r.failure ? [{ host: r.host, ...r.failure }] : [])),
    compile: all
      .filter(({ action }) => action.kind === 'compile')
      .map(({ host, action }) => ({ host, version: action.version ?? '' })),
    ship: all
      .filter(({ action }) => action.kind === 'ship')
      .map(({ host, action }) => ({ host, from: action.from ?? '', version: action.version ?? '' })),
    // Only with target.package: a summary without it reads as it always did.
    ...(unpack.length > 0 && { unpack }),
    backup_hosts: new Set(backups.map(({ host }) => host)).size,
    backup_items: backups.reduce((sum, { action }) => sum + (action.items ?? 0), 0),
    backup_bytes: backups.reduce((sum, { action }) => sum + (action.bytes ?? 0), 0),
    batches,
    max_out_of_service: Math.max(0, ...batches.map((b) => b.out_of_service.length)),
    pause_between_batches: strategy.pauseBetweenBatches,
    confirm_between_batches: strategy.confirmBetweenBatches,
    max_failed_hosts: strategy.maxFailedHosts ? failureBudget(results.length, strategy.maxFailedHosts) : null,
  };
}
