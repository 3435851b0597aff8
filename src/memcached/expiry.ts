// Item expiry moves between three forms: memcached's `t` (remaining seconds,
// -1 = never), the backup's absolute unix time on the server's clock (0 = never),
// and `ms T<n>`, where memcached reads n > 30 days as an absolute unix time.

/** memcached's REALTIME_MAXDELTA: a TTL above this is an absolute unix time. */
export const RELATIVE_TTL_MAX = 2_592_000;

/** The server's clock, read once from `stats` and advanced by local elapsed time. */
export interface ServerClock {
  /** Whole unix seconds on the server's clock now. */
  now(): number;
}

export function serverClockFrom(serverTime: number, readAt = performance.now()): ServerClock {
  return { now: () => Math.floor(serverTime + (performance.now() - readAt) / 1000) };
}

/** `mg … t` reply → absolute exptime (0 = never). */
export function absoluteExptime(remaining: number, serverNow: number): number {
  return remaining < 0 ? 0 : serverNow + remaining;
}

/**
 * The `T` to store an item with, given its absolute exptime and the target
 * server's time; undefined when its time has run out (skip it).
 */
export function storeTtl(exptime: number, serverNow: number): number | undefined {
  if (exptime === 0) return 0;
  const remaining = exptime - serverNow;
  if (remaining <= 0) return undefined;
  return remaining > RELATIVE_TTL_MAX ? exptime : remaining;
}
