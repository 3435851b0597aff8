import type { HostCount, Serial } from '../playbook/types.js';

/** Hosts in one rolling batch: a count, or a percentage of the selected hosts (rounded up, at least 1). */
function batchSize(selectedHosts: number, size: HostCount): number {
  return size.kind === 'count' ? size.count : Math.max(1, Math.ceil((selectedHosts * size.percent) / 100));
}

/** Splits hosts into rolling batches of strategy.serial's sizes in turn, in playbook order. */
export function splitIntoBatches<T>(hosts: readonly T[], serial: Serial): T[][] {
  return chunk(hosts, serial, hosts.length);
}

/**
 * Rolling batches where hosts already on their target go first, all together:
 * their rolling tasks stop nothing, so taking them one batch at a time would
 * only make a re-run over a finished fleet cost a serial walk of the whole
 * fleet. The others keep the batch sizes the whole selection gives, starting
 * with serial's first: a canary stays a canary.
 */
export function rollingBatches<T>(
  hosts: readonly T[],
  serial: Serial,
  onTarget: (host: T) => boolean,
): T[][] {
  const settled = hosts.filter(onTarget);
  const rest = hosts.filter((host) => !onTarget(host));
  const batches = chunk(rest, serial, hosts.length);
  return settled.length > 0 ? [settled, ...batches] : batches;
}

// Like Ansible's list form of serial: each size once, in order, then the last
// one again for as long as hosts are left.
function chunk<T>(items: readonly T[], serial: Serial, selectedHosts: number): T[][] {
  const sizes = serial.map((size) => batchSize(selectedHosts, size));
  const batches: T[][] = [];
  for (let i = 0; i < items.length; ) {
    const size = sizes[Math.min(batches.length, sizes.length - 1)] ?? 1;
    batches.push(items.slice(i, i + size));
    i += size;
  }
  return batches;
}

/** Runs `work` over items with at most `limit` in flight, preserving nothing but completion. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  });
  await Promise.all(workers);
}

/** Ansible's rule: abort when the share of failed hosts exceeds the threshold. */
export function exceedsMaxFail(failedHosts: number, totalHosts: number, maxFailPercentage: number): boolean {
  if (totalHosts === 0) return false;
  return (failedHosts * 100) / totalHosts > maxFailPercentage;
}

/**
 * How many failed hosts strategy.max_failed_hosts tolerates in the whole run: a
 * count, or a percentage of the selected hosts rounded down (10% of 12 is 1).
 */
export function failureBudget(selectedHosts: number, budget: HostCount): number {
  return budget.kind === 'count' ? budget.count : Math.floor((selectedHosts * budget.percent) / 100);
}

/** Whether the run's failed hosts are more than max_failed_hosts tolerates. */
export function exceedsFailureBudget(failedHosts: number, selectedHosts: number, budget: HostCount): boolean {
  return failedHosts > failureBudget(selectedHosts, budget);
}
