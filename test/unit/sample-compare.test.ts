import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ServerClock } from '../../src/memcached/expiry.js';
import type { MetaClient } from '../../src/memcached/meta-client.js';
import { compareItems, type SampledItem } from '../../src/tasks/sample-check.js';

// verify's read-back against the backup, when memcached's own clock (current_time,
// moved by a one-second timer on its main thread) lagged at the moment `stats` was
// read: seen on 5 of 500 lab hosts at load 37, every expiry 3–4 s early.

const now = 1_800_000_000;
const fixed = (at: number): ServerClock => ({ now: () => at });

/**
 * A memcached holding `stored` (key → absolute expiry as it really stores it),
 * answering `mg t` from its real clock `now`, and `stats` time from `statsTimes`
 * in turn (a lagging clock first, a caught-up one after).
 */
function fakeClient(stored: Map<string, number>, statsTimes: number[]): MetaClient {
  const client = {
    serverClock: async () => fixed(statsTimes.shift() ?? now),
    fetchItems: async (
      keys: Iterable<{ key: Buffer }>,
      onItem: (item: { key: Buffer; value: Buffer; flags: number; exptime: number }) => void,
      options: { clock: ServerClock },
    ) => {
      for (const { key } of keys) {
        const exptime = stored.get(key.toString('latin1'));
        if (exptime === undefined) continue;
        // What MetaClient does with `mg … t`: the remaining seconds on the server's clock, made absolute on ours.
        const absolute = exptime === 0 ? 0 : options.clock.now() + (exptime - now);
        onItem({ key, value: Buffer.from('v'), flags: 0, exptime: absolute });
      }
      return { fetched: 0, missing: 0, valueBytes: 0, unaddressable: [] };
    },
  };
  return client as unknown as MetaClient;
}

const item = (key: string, exptime: number): SampledItem => ({
  key: Buffer.from(key),
  valueSha256: createHash('sha256').update('v').digest('hex'),
  flags: 0,
  exptime,
});

describe('compareItems', () => {
  const items = [item('a', now + 600), item('b', now + 900), item('c', 0)];

  it('reads expiry-only differences once more against a fresh clock: a lagging memcached clock is not a mismatch', async () => {
    const stored = new Map([
      ['a', now + 600],
      ['b', now + 900],
      ['c', 0],
    ]);
    // The clock given was read while memcached's lagged 4 s.
    const client = fakeClient(stored, [now]);
    const result = await compareItems(client, items, fixed(now - 4));
    expect(result).toEqual({ compared: 3, mismatches: [] });
  });

  it('still reports an expiry that is really off, and every other difference at once', async () => {
    const stored = new Map([
      ['a', now + 590],
      ['b', now + 900],
    ]);
    const client = fakeClient(stored, [now]);
    const result = await compareItems(client, items, fixed(now));
    expect(result.mismatches).toEqual([`a: expiry ${now + 590}, backup ${now + 600}`, 'c: missing']);
  });
});
