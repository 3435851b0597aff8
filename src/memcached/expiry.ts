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

/**
 * How far an `mg` expiry may sit from metadump's for the same cas and still be
 * read as the same expiry. Larger than any lag of memcached's clock seen (6 s
 * at load 30+); a touch moving it further is taken from mg.
 */
export const LISTED_EXPIRY_SLACK_SECONDS = 30;

/** What metadump said of an item: its absolute exptime (0 = never) and the cas that dated it. */
export interface ListedExpiry {
  readonly exptime?: number;
  readonly cas?: number;
}

/**
 * The absolute exptime to keep for an item `mg` just read (`measured`: its `t`
 * made absolute with our ServerClock), given metadump's listing of it.
 *
 * mg's `t` counts from memcached's `current_time`, which only a one-second timer
 * on its main thread moves; on a starved host it lags real time by seconds, and
 * `t` plus our reading of the clock lands that much late (500 lab hosts at load
 * 30+: 3–6 s on 114 of them). metadump's `exp=` is the item's own exptime plus
 * the fixed `process_started`: exact whatever the timer does. It is kept when
 * it dates the same cas and agrees within the slack. A rewrite (new cas) or a
 * touch that moved the expiry further than the slack, between the listing and
 * the read, is taken from mg; a smaller touch in those milliseconds is the one
 * thing lost.
 */
export function listedOrMeasuredExptime(measured: number, cas: number, listed: ListedExpiry): number {
  if (listed.exptime === undefined || listed.cas !== cas) return measured;
  if (listed.exptime === 0 || measured === 0) return measured;
  return Math.abs(measured - listed.exptime) <= LISTED_EXPIRY_SLACK_SECONDS ? listed.exptime : measured;
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
