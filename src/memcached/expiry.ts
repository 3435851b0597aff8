// Item expiry moves between three forms: memcached's `t` (remaining seconds,
// -1 = never), the backup's absolute unix time on the server's clock (0 = never),
// and `ms T<n>`, where memcached reads n > 30 days as an absolute unix time
// (what memplay sends: storeTtl).

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
 *
 * Always the absolute form (any unix time now is above RELATIVE_TTL_MAX):
 * memcached turns it into its own relative time from `process_started`, which
 * is fixed at start. A relative TTL is added to `current_time`, which only a
 * one-second timer on memcached's main thread moves: on a starved host (500 lab
 * hosts on 2 cores, load 37) that clock lagged a just-started instance's real
 * time by 3–4 s, so a relative TTL computed from our clock stored items that
 * expire seconds off — early, or late if our read of its clock was the stale one.
 * serverNow only decides which items have already expired.
 */
export function storeTtl(exptime: number, serverNow: number): number | undefined {
  if (exptime === 0) return 0;
  if (exptime - serverNow <= 0) return undefined;
  return exptime;
}
