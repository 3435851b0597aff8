import type { Serial } from '../playbook/types.js';

/** Hosts per rolling batch: a count, or a percentage of the selected hosts (rounded up, at least 1). */
function batchSize(selectedHosts: number, serial: Serial): number {
  return serial.kind === 'count'
    ? serial.count
    : Math.max(1, Math.ceil((selectedHosts * serial.percent) / 100));
}

/** Splits hosts into rolling batches of strategy.serial hosts each, in playbook order. */
export function splitIntoBatches<T>(hosts: readonly T[], serial: Serial): T[][] {
  return chunk(hosts, batchSize(hosts.length, serial));
}

/**
 * Rolling batches where hosts already on their target go first, all together:
 * their rolling tasks stop nothing, so taking them one batch at a time would
 * only make a re-run over a finished fleet cost a serial walk of the whole
 * fleet. The others keep the batch size the whole selection gives.
 */
export function rollingBatches<T>(
  hosts: readonly T[],
  serial: Serial,
  onTarget: (host: T) => boolean,
): T[][] {
  const settled = hosts.filter(onTarget);
  const rest = hosts.filter((host) => !onTarget(host));
  const batches = chunk(rest, batchSize(hosts.length, serial));
  return settled.length > 0 ? [settled, ...batches] : batches;
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const batches: T[][] = [];
  for (let i = 0; i < items.length; i += size) batches.push(items.slice(i, i + size));
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
