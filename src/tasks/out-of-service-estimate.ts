import type { SwapPath } from '../report/events.js';
import { formatBytes } from '../units.js';

// What --check says a host's time out of service will be, from the size it
// already knows (memcached's `bytes`). The rates are this project's own bench
// figures (npm run bench:live and bench:fleet on the 2-core lab, docs/benchmarks.md):
// cold 120 MB: swap ~0.2 s + restore ~0.55 s; warm 120 MB 0.29–0.37 s, 1 GB
// 0.53 s; handover 120 MB 0.30–0.38 s, 1 GB 0.72 s. An estimate, said so.

const MiB = 1024 * 1024;

/** Fixed part (stop, start, first answer) and bytes per second of the part that grows with the cache. */
const rates: Record<SwapPath, { readonly fixedMs: number; readonly bytesPerSecond: number }> = {
  cold: { fixedMs: 200, bytesPerSecond: 200 * MiB },
  warm: { fixedMs: 280, bytesPerSecond: 4096 * MiB },
  handover: { fixedMs: 280, bytesPerSecond: 2250 * MiB },
};

export function estimateOutOfServiceMs(path: SwapPath, bytes: number): number {
  const rate = rates[path];
  return Math.round(rate.fixedMs + (Math.max(0, bytes) / rate.bytesPerSecond) * 1000);
}

/** `about 0.8 s for 114.4 MiB (estimate)` */
export function describeEstimate(path: SwapPath, bytes: number): string {
  const seconds = estimateOutOfServiceMs(path, bytes) / 1000;
  return `about ${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s for ${formatBytes(bytes)} (estimate)`;
}
