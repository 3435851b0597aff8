import { type CasIndex, digestIdOf, keyDigestId } from './key-index.js';
import type { MetaClient } from './meta-client.js';

// The old side's fence where memcached has no change stream memplay can follow
// (before 1.6.10: `watch` cannot tell memplay's connections apart without a
// meta lookup). Right before the stop, one more metadump compares every key's
// cas with the one memplay backed up: a key whose cas moved, or that is gone,
// must not be restored (a miss, never an older value). What clients change
// while the crawl walks past keys it has already compared cannot be named: the
// server's change counters over the crawl count it, as possibly stale.

/** Client changes as memcached counts them (every protocol): sets, cas, deletes, incr/decr, touches. */
function changeCounter(stats: ReadonlyMap<string, string>): number {
  const counters = ['cmd_set', 'delete_hits', 'incr_hits', 'decr_hits', 'touch_hits'];
  return counters.reduce((sum, name) => sum + Number(stats.get(name) ?? 0), 0);
}

export interface MetadumpCheck {
  /** Key digests (keyDigestId) backed up with a value the old instance no longer holds. */
  readonly excluded: ReadonlySet<string>;
  /** Client changes during the crawl: keys among them may have changed after the crawl passed them. */
  readonly changesDuringCheck: number;
}

/** Compares the live cas of every key with the backup's (`index`); the index is spent afterwards. */
export async function checkByMetadump(client: MetaClient, index: CasIndex): Promise<MetadumpCheck> {
  const excluded = new Set<string>();
  const before = changeCounter(await client.stats());
  index.beginDelta();
  for await (const entry of client.metadumpEntries('auto')) {
    const id = keyDigestId(entry.key);
    if (index.observe(id, entry.cas) === 'changed') excluded.add(id);
  }
  // Listed in the backup, gone now: deleted (or evicted) on the old side.
  for (const digest of index.endDelta()) excluded.add(digestIdOf(digest));
  const after = changeCounter(await client.stats());
  return { excluded, changesDuringCheck: Math.max(0, after - before) };
}
