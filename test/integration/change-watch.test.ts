import { afterEach, describe, expect, it } from 'vitest';
import { ChangeWatch, TOUCH_MISSED } from '../../src/memcached/change-watch.js';
import { MetaClient } from '../../src/memcached/meta-client.js';
import { type LocalMemcached, startMemcached } from '../lab/items/memcached-server.js';

// The one property the fence, the handover and the restore's guard stand on, against
// a real memcached: after SIGUSR1 the stream holds every change memcached acknowledged.

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
