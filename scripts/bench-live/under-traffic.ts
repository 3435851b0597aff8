import type { LabHost, TrafficHandle, TrafficReport } from '../../test/lab/index.js';
import { preloadTraffic, startTraffic } from '../../test/lab/index.js';
import { type CacheState, cacheState } from '../bench/steps.js';

// One upgrade with every host under its own client traffic (test/lab/traffic.ts:
// memjs clients that remember every acknowledgement), started before the
// upgrade and stopped after it, so what clients saw covers the whole run.

export interface TrafficSettings {
  /** Per host, the worker loops' total. */
  readonly opsPerSecond: number;
  /** Keys each host's traffic reads, writes and deletes (preloaded first). */
  readonly keys: number;
  /** Traffic before the upgrade starts and after it ends. */
  readonly marginMs: number;
  /** The loops stop by themselves after this long, whatever happens to the upgrade. */
  readonly maxDurationMs: number;
}

export interface HostTraffic {
  readonly host: LabHost;
  /** curr_items and bytes with the data set and the traffic's keys loaded, before traffic starts. */
  readonly before: CacheState;
  /** After the traffic stopped and its final pass read every key. */
  readonly after: CacheState;
  readonly traffic: TrafficReport;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function underTraffic<T>(
  hosts: readonly LabHost[],
  settings: TrafficSettings,
  upgrade: () => Promise<T>,
): Promise<{ readonly result: T; readonly hosts: HostTraffic[] }> {
  const keyspaces = await Promise.all(
    hosts.map((h) => preloadTraffic(h.memcachedPort, { keys: settings.keys })),
  );
  const before = await Promise.all(hosts.map((h) => cacheState(h.memcachedPort)));
  const runs: TrafficHandle[] = hosts.map((h, i) =>
    startTraffic(h.memcachedPort, keyspaces[i] as (typeof keyspaces)[number], {
      opsPerSecond: settings.opsPerSecond,
      seed: 7 + h.index,
      maxDurationMs: settings.maxDurationMs,
    }),
  );
  let outcome: { readonly value: T } | { readonly error: unknown };
  try {
    await sleep(settings.marginMs);
    outcome = { value: await upgrade() };
    await sleep(settings.marginMs);
  } catch (error) {
    outcome = { error };
  }
  // Stopped whatever the upgrade did: loops left running would skew every later row.
  const reports = await Promise.all(runs.map((r) => r.stop()));
  if ('error' in outcome) throw outcome.error;
  const after = await Promise.all(hosts.map((h) => cacheState(h.memcachedPort)));
  return {
    result: outcome.value,
    hosts: hosts.map((host, i) => ({
      host,
      before: before[i] as CacheState,
      after: after[i] as CacheState,
      traffic: reports[i] as TrafficReport,
    })),
  };
}
