import type { Serial } from '../playbook/types.js';

/** Splits hosts into rolling batches: a count, or a percentage of the selected hosts (rounded up, at least 1). */
export function splitIntoBatches<T>(hosts: readonly T[], serial: Serial): T[][] {
  const size =
    serial.kind === 'count' ? serial.count : Math.max(1, Math.ceil((hosts.length * serial.percent) / 100));
  const batches: T[][] = [];
  for (let i = 0; i < hosts.length; i += size) batches.push(hosts.slice(i, i + size));
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
