import { afterEach, describe, expect, it } from 'vitest';
import {
  ChangeWatch,
  decodeLoggedKey,
  parseWatchLine,
  TOUCH_FOUND,
  TOUCH_MISSED,
  TOUCH_STORE,
} from '../../src/memcached/change-watch.js';
import { MetaClient } from '../../src/memcached/meta-client.js';
import { type LocalMemcached, startMemcached } from '../lab/items/memcached-server.js';

// The change watch is what the old side's fence, the handover and the restore's
// guard stand on: these pin the log lines memcached 1.6 writes and the one
// property everything relies on — after SIGUSR1, the stream holds every change
// memcached acknowledged before it exited.

describe('watch lines', () => {
  it('decodes memcached uriencoded keys to their exact bytes', () => {
    expect(decodeLoggedKey('traffic%3A12').toString('latin1')).toBe('traffic:12');
    expect(decodeLoggedKey('a%20b%25c%FF')).toEqual(Buffer.from([0x61, 0x20, 0x62, 0x25, 0x63, 0xff]));
    expect(decodeLoggedKey('plain-key_1.~')).toEqual(Buffer.from('plain-key_1.~'));
  });

  it('reads stores that changed the item, every lookup with its outcome, and dropped-entry counts', () => {
    expect(
      parseWatchLine(
        'ts=1.2 gid=3 type=item_store key=k%3A1 status=stored cmd=set ttl=0 clsid=1 cfd=17 size=3',
      ),
    ).toEqual({ kind: 'touch', event: { key: Buffer.from('k:1'), cfd: 17, touch: TOUCH_STORE } });
    // An add that found the key changed nothing.
    expect(
      parseWatchLine(
        'ts=1.2 gid=3 type=item_store key=k status=not_stored cmd=add ttl=0 clsid=1 cfd=17 size=3',
      ),
    ).toEqual({ kind: 'other' });
    expect(parseWatchLine('ts=1.2 gid=4 type=item_get key=k status=found clsid=1 cfd=9 size=3')).toEqual({
      kind: 'touch',
      event: { key: Buffer.from('k'), cfd: 9, touch: TOUCH_FOUND },
    });
    expect(parseWatchLine('ts=1.2 gid=4 type=item_get key=k status=not_found clsid=0 cfd=9 size=0')).toEqual({
      kind: 'touch',
      event: { key: Buffer.from('k'), cfd: 9, touch: TOUCH_MISSED },
    });
    expect(parseWatchLine('skipped=42')).toEqual({ kind: 'skipped', count: 42 });
    expect(parseWatchLine('ts=1.2 gid=5 type=eviction key=k fetch=no ttl=0 la=1 clsid=1 size=3')).toEqual({
      kind: 'other',
    });
  });
});

describe('a watch on a real memcached', () => {
  let server: LocalMemcached | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  async function watched() {
    server = await startMemcached({ memoryMb: 64 });
    const watch = await ChangeWatch.open(server.connect);
    const own = await MetaClient.connect(server.connect, { connections: 2 });
    await watch.ignoreConnectionsOf(own);
    return { watch, own, running: server };
  }

  it("names a client's delete that misses, and never memplay's own lookups", async () => {
    const { watch, own, running } = await watched();
    const client = await MetaClient.connect(running.connect, { connections: 1 });
    await client.casOf([Buffer.from('absent')]);
    await client.deleteKeys([Buffer.from('gone')]);
    await own.casOf([Buffer.from('mine')]);
    await watch.barrier(own);
    const touched = watch.take();
    expect(touched.get('gone')).toBe(TOUCH_MISSED);
    expect(touched.get('absent')).toBe(TOUCH_MISSED);
    expect(touched.has('mine')).toBe(false);
    client.close();
    own.close();
    watch.close();
  });

  it('after SIGUSR1 the stream ends with every store memcached acknowledged', async () => {
    const { watch, own, running } = await watched();
    const client = await MetaClient.connect(running.connect, { connections: 1 });
    const clock = await client.serverClock();
    const acknowledged: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const key = `w${i}`;
        try {
          const counts = await client.storeItems(
            [{ key: Buffer.from(key), value: Buffer.from('v'), flags: 0, exptime: 0 }],
            { mode: 'set' },
            clock,
          );
          if (counts.stored === 1) acknowledged.push(key);
        } catch {
          return;
        }
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await running.stopWith('SIGUSR1');
    expect(await watch.untilEnd(5000)).toBe(true);
    writing = false;
    await writer;
    const seen = watch.take();
    expect(acknowledged.length).toBeGreaterThan(50);
    expect(acknowledged.filter((key) => !seen.has(key))).toEqual([]);
    client.close();
    own.close();
  });
});
