import { type AddressInfo, createServer, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import memjs from 'memjs';
import { errorMessage } from '../errors.js';
import { type ProbeReply, probeTimeoutMs, type StreamFactory } from './protocol-probe.js';

// The binary protocol as a client library speaks it: memjs. memjs dials TCP
// itself and cannot be handed a stream, so it dials a listener on the
// controller's loopback that forwards each connection into a fresh stream
// (an SSH tunnel to the host's port); the listener lives only for the probe.
// memjs cannot write client flags: it is used here to read, never to store.

export interface BinaryProbe {
  readonly version: ProbeReply;
  readonly stats: ProbeReply;
  readonly get: ProbeReply;
  /** The server answered a command with "authentication required" (SASL). */
  readonly authRequired: boolean;
}

const VERSION_OPCODE = 0x0b;
// Far above the sequence numbers memjs itself hands out in a probe's life.
const VERSION_OPAQUE = 0x7ffffff0;

async function forwarder(open: StreamFactory): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket | Duplex>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => socket.destroy());
    open().then(
      (stream) => {
        sockets.add(stream);
        stream.on('error', () => socket.destroy());
        socket.on('close', () => stream.destroy());
        stream.on('close', () => socket.destroy());
        socket.pipe(stream);
        stream.pipe(socket);
      },
      () => socket.destroy(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function describe(error: unknown): string {
  return errorMessage(error).slice(0, 120);
}

function withTimeout<T>(work: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no reply in ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Binary `version`, `stats` and a `get` of `key` (a miss is an answer). The
 * three are sent together: a server that ignores the binary protocol costs one
 * timeout, not three.
 */
export async function probeBinary(
  open: StreamFactory,
  key: string,
  timeoutMs = probeTimeoutMs,
): Promise<BinaryProbe> {
  const forward = await forwarder(open);
  const client = memjs.Client.create(`127.0.0.1:${forward.port}`, {
    retries: 1,
    timeout: timeoutMs / 1000,
    conntimeout: timeoutMs / 1000,
    logger: { log: () => {} },
  });
  let authRequired = false;
  const answer = async (work: Promise<string>): Promise<ProbeReply> => {
    try {
      return { answered: true, reply: await withTimeout(work, timeoutMs + 500) };
    } catch (error) {
      const reply = describe(error);
      if (/authentication/i.test(reply)) authRequired = true;
      return { answered: false, reply };
    }
  };
  try {
    const server = client.servers[0] as memjs.Server;
    const version = new Promise<string>((resolve, reject) => {
      const request = Buffer.alloc(24);
      request.writeUInt8(0x80, 0);
      request.writeUInt8(VERSION_OPCODE, 1);
      request.writeUInt32BE(VERSION_OPAQUE, 12);
      server.onResponse(VERSION_OPAQUE, (response) => {
        if (response.header.status === 0) resolve(`VERSION ${response.val.toString('latin1')}`);
        else reject(new Error(`status ${response.header.status}`));
      });
      server.onError(VERSION_OPAQUE, reject);
      server.write(request);
    });
    const stats = new Promise<string>((resolve, reject) => {
      client.stats((error, _server, values) => {
        if (error || !values) reject(error ?? new Error('no stats'));
        else resolve(`${Object.keys(values).length} stats`);
      });
    });
    const get = client.get(key).then(({ value }) => (value === null ? 'miss' : 'hit'));
    const [versionReply, statsReply, getReply] = await Promise.all([
      answer(version),
      answer(stats),
      answer(get),
    ]);
    return { version: versionReply, stats: statsReply, get: getReply, authRequired };
  } finally {
    client.close();
    await forward.close();
  }
}
