import { describe, expect, it } from 'vitest';
import { CasIndex, keyDigestId } from '../../src/memcached/key-index.js';
import type { MetaClient } from '../../src/memcached/meta-client.js';
import type { MetadumpEntry } from '../../src/memcached/metadump.js';
import { OldSideFence } from '../../src/memcached/old-side-fence.js';

// The old side's fence on memcached before 1.6.10 (no change stream memplay can
// follow): the last look is one metadump, compared cas by cas with the backup.

function entry(key: string, cas: number): MetadumpEntry {
  return {
    key: Buffer.from(key),
    exptime: 0,
    lastAccess: 0,
    cas,
    fetched: false,
    slabClass: 1,
    size: 64,
    flags: undefined,
  };
}

/** A client that lists `entries` and whose change counters move by `changes` over the crawl. */
function oldInstance(entries: MetadumpEntry[], changes: number) {
  let statsRead = 0;
  let closed = false;
  const client = {
    async stats() {
      statsRead++;
      return new Map([
        ['cmd_set', String(100 + (statsRead > 1 ? changes : 0))],
        ['delete_hits', '7'],
      ]);
    },
    async *metadumpEntries() {
      yield* entries;
      return { mode: 'all', entries: entries.length };
    },
    close() {
      closed = true;
    },
  };
  return { client: client as unknown as MetaClient, closed: () => closed };
}

const id = (key: string) => keyDigestId(Buffer.from(key));

describe('the fence of an old instance without a change stream', () => {
  it('leaves out keys whose cas moved or that are gone, keeps unchanged ones, and counts changes during the crawl', async () => {
    const index = new CasIndex(8);
    index.remember(id('same'), 1);
    index.remember(id('rewritten'), 2);
    index.remember(id('deleted'), 3);
    const old = oldInstance([entry('same', 1), entry('rewritten', 9), entry('created-later', 4)], 5);
    const fence = OldSideFence.withoutWatch(old.client, index, 'memcached 1.5.22 has no change stream');
    await fence.checkBeforeStop();
    const pending = fence.pending();
    expect(pending.state).toBe('pending');
    expect(new Set(pending.excluded)).toEqual(new Set([id('rewritten'), id('deleted')]));
    expect(pending.unknown).toBe(5);
    const record = await fence.settle('stopped by systemd with SIGTERM');
    expect(record).toEqual({
      state: 'complete',
      excluded: pending.excluded,
      unknown: 5,
      inexact: 'stopped by systemd with SIGTERM; memcached 1.5.22 has no change stream',
    });
    expect(old.closed()).toBe(true);
  });

  it('cannot follow a handover, and says why', () => {
    const fence = OldSideFence.withoutWatch(
      oldInstance([], 0).client,
      new CasIndex(1),
      'memcached 1.5.22 has no change stream',
    );
    expect(() => fence.follower()).toThrow(/change stream: memcached 1\.5\.22 has no change stream/);
  });
});
