// The order a restore stores items in, so that a full cache fits again.
//
// memcached hands out memory in 1 MB slab pages, one slab class (item size
// range) at a time, and at its memory limit it refuses a class a new page —
// except the class's first: `do_slabs_newslab` allows a page past the limit to
// a class that has none (slabs.c, the same in 1.6.18 and 1.6.38). An instance
// that filled up over time got some of its small classes' first pages after it
// reached the limit, and holds a few pages more than `-m`. A restore in the
// backup's (hash) order gives every class its first page early; the new
// instance then holds only `-m`, and the classes that fill last evict their own
// items — measured: a full 64 MB 1.6.18 copied key by key into 1.6.38 (or into
// 1.6.18 again) lost 9, 10 and 331 of 15,000–38,000 items in three item sets.
// Storing the items of the rarest sizes last — those whose class needs at most
// about one page — lets each of those classes get its first page at the limit,
// as it did on the old instance: 0 lost in the same three sets.

/** Bytes memcached adds to an item's key and value, roughly: header, cas, CRLF. */
const itemOverhead = 56;
/** memcached's default slab growth factor (`-f`). */
const growthFactor = 1.25;
/** Size ranges holding less than this are stored last (a page is 1 MiB; half leaves room for class boundaries). */
const lateBelowBytes = 512 * 1024;

/** The size range an item falls in: one per factor-1.25 step, as memcached's slab classes are. */
export function sizeBucket(keyLength: number, valueLength: number): number {
  return Math.floor(Math.log(keyLength + valueLength + itemOverhead) / Math.log(growthFactor));
}

/** Bytes per size range, as the backup writer counts them (stored in the backup's metadata). */
export class SizeHistogram {
  private readonly bytes = new Map<number, number>();

  add(keyLength: number, valueLength: number): void {
    const bucket = sizeBucket(keyLength, valueLength);
    this.bytes.set(bucket, (this.bytes.get(bucket) ?? 0) + keyLength + valueLength + itemOverhead);
  }

  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.bytes].sort(([a], [b]) => a - b));
  }
}

/** The size ranges whose items a restore stores last; empty when the backup has no histogram. */
export function lateBuckets(histogram: unknown): ReadonlySet<number> {
  const late = new Set<number>();
  if (!histogram || typeof histogram !== 'object') return late;
  for (const [bucket, bytes] of Object.entries(histogram as Record<string, unknown>)) {
    if (typeof bytes === 'number' && bytes < lateBelowBytes) late.add(Number(bucket));
  }
  return late;
}
