import { type HostConfig, type HostCount, hostOf, type Serial, type Strategy } from '../playbook/types.js';

/** Hosts in one rolling batch: a count, or a percentage of the selected hosts (rounded up, at least 1). */
function batchSize(selectedHosts: number, size: HostCount): number {
  return size.kind === 'count' ? size.count : Math.max(1, Math.ceil((selectedHosts * size.percent) / 100));
}

/** Splits hosts into rolling batches of strategy.serial's sizes in turn, in playbook order. */
export function splitIntoBatches<T>(hosts: readonly T[], serial: Serial, apart?: (host: T) => string): T[][] {
  return chunk(hosts, serial, hosts.length, apart);
}

/**
 * What keeps two instances of one host out of one rolling batch: each target name's
 * host, or undefined when nothing must be kept apart (strategy.instances_together).
 */
export function instancesApart(
  strategy: Strategy,
  hosts: readonly HostConfig[],
): ((name: string) => string) | undefined {
  if (strategy.instancesTogether === true) return undefined;
  const hostByName = new Map(hosts.map((target) => [target.name, hostOf(target)]));
  return (name) => hostByName.get(name) ?? name;
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
  apart?: (host: T) => string,
): T[][] {
  const settled = hosts.filter(onTarget);
  const rest = hosts.filter((host) => !onTarget(host));
  const batches = chunk(rest, serial, hosts.length, apart);
  return settled.length > 0 ? [settled, ...batches] : batches;
}

// Like Ansible's list form of serial: each size once, in order, then the last
// one again for as long as hosts are left. `apart`: items with the same key
// (instances of one host) never share a batch; one that would waits for the
// next, and the batch takes the next item in order that may join instead.
function chunk<T>(
  items: readonly T[],
  serial: Serial,
  selectedHosts: number,
  apart?: (item: T) => string,
): T[][] {
  const sizes = serial.map((size) => batchSize(selectedHosts, size));
  const batches: T[][] = [];
  const left = [...items];
  while (left.length > 0) {
    const size = sizes[Math.min(batches.length, sizes.length - 1)] ?? 1;
    const batch: T[] = [];
    const keys = new Set<string>();
    for (let i = 0; i < left.length && batch.length < size; ) {
      const item = left[i] as T;
      const key = apart?.(item);
      if (key !== undefined && keys.has(key)) {
        i++;
        continue;
      }
      if (key !== undefined) keys.add(key);
      batch.push(item);
      left.splice(i, 1);
    }
    batches.push(batch);
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
