import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { wakeWhileStopping } from '../../src/facts/wait.js';
import { createLocalTransport } from '../../src/transport/local.js';

// memcached notices a stop signal when a connection wakes its event loop; the
// swap connects to the port while the stop command runs, and never after it.

describe('wakeWhileStopping', () => {
  it('connects to the port while the stop runs, hangs up each time, and stops connecting once it settles', async () => {
    const arrivals: number[] = [];
    const sockets: Socket[] = [];
    const server = createServer((socket) => {
      arrivals.push(performance.now());
      sockets.push(socket);
      socket.on('error', () => {});
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as { port: number }).port;
    try {
      const transport = createLocalTransport('here');
      let settledAt = 0;
      const stopping = new Promise<void>((resolve) => setTimeout(resolve, 300)).then(() => {
        settledAt = performance.now();
      });
      await wakeWhileStopping(transport, port, stopping);
      expect(settledAt).toBeGreaterThan(0);
      expect(arrivals.length).toBeGreaterThanOrEqual(2);
      await new Promise((resolve) => setTimeout(resolve, 200));
      // Every connection came while the stop was running; none after.
      expect(arrivals.every((at) => at <= settledAt + 5)).toBe(true);
      const closed = await Promise.all(
        sockets.map((s) => (s.readableEnded || s.destroyed ? true : once(s, 'close').then(() => true))),
      );
      expect(closed.every(Boolean)).toBe(true);
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
    }
  });

  it('returns as soon as a stop that fails settles, and a refused port is no error', async () => {
    const transport = createLocalTransport('here');
    const failing = new Promise((_, reject) => setTimeout(() => reject(new Error('stop failed')), 120));
    failing.catch(() => {});
    // Port 1 on loopback refuses: nothing listens there.
    await expect(wakeWhileStopping(transport, 1, failing)).resolves.toBeUndefined();
  });
});
