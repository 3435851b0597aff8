import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

// Fills a memcached fast with plain, same-sized items (for the ~1 GB RSS step,
// where the adversarial generator's mix would be slow to write and hard to fit
// without evictions). Quiet `ms` pipelined over a few connections, each closed
// by `mn`, so the only replies are errors and the final MN.

export interface UniformLoad {
  readonly items: number;
  readonly valueBytes: number;
  readonly wallMs: number;
}

const CRLF = Buffer.from('\r\n');

async function loadRange(port: number, from: number, to: number, valueSize: number, pool: Buffer) {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  let replies = '';
  socket.on('data', (chunk: Buffer) => {
    replies += chunk.toString('latin1');
  });
  try {
    // Whole batches of requests per write: a write per request is a syscall per request.
    let batch: Buffer[] = [];
    for (let i = from; i < to; i++) {
      const offset = (i * 7919) % (pool.length - valueSize);
      batch.push(
        Buffer.from(`ms bench:${i} ${valueSize} T0 q\r\n`),
        pool.subarray(offset, offset + valueSize),
        CRLF,
      );
      if (batch.length < 3 * 256 && i + 1 < to) continue;
      const drained = socket.write(Buffer.concat(batch));
      batch = [];
      if (!drained) await once(socket, 'drain');
      if (replies.length > 0) {
        throw new Error(`bench: loading 127.0.0.1:${port}: memcached replied ${replies.slice(0, 200)}`);
      }
    }
    socket.write('mn\r\n');
    while (!replies.includes('MN\r\n')) await once(socket, 'data');
    if (!replies.startsWith('MN')) {
      throw new Error(`bench: loading 127.0.0.1:${port}: memcached replied ${replies.slice(0, 200)}`);
    }
  } finally {
    socket.destroy();
  }
}

export async function loadUniform(
  port: number,
  options: { items: number; valueSize: number; connections?: number },
): Promise<UniformLoad> {
  const connections = options.connections ?? 4;
  const pool = randomBytes(1024 * 1024);
  const started = performance.now();
  const share = Math.ceil(options.items / connections);
  await Promise.all(
    Array.from({ length: connections }, (_, c) =>
      loadRange(port, c * share, Math.min(options.items, (c + 1) * share), options.valueSize, pool),
    ),
  );
  return {
    items: options.items,
    valueBytes: options.items * options.valueSize,
    wallMs: performance.now() - started,
  };
}
