import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import { restoreBackup } from '../../src/memcached/backup-pass.js';
import { type ConnectionFactory, MetaClient } from '../../src/memcached/meta-client.js';
import { loadPlaybook } from '../../src/playbook/index.js';
import { openTransport } from '../../src/transport/connect.js';

// Reference points that tell where the time goes: the same restore over a
// plain TCP socket (memplay's own code, no SSH), and what one tunnelled channel
// can carry at all (no memplay code): the ceiling memplay's backup is held to.

/** As src/tasks/memcached-client.ts connectMeta. */
const TASK_CONNECTIONS = 2;

export interface Timed {
  readonly ms: number;
  readonly items: number;
  readonly valueBytes: number;
}

export async function restoreOver(factory: ConnectionFactory, backupFile: string): Promise<Timed> {
  const client = await MetaClient.connect(factory, { connections: TASK_CONNECTIONS });
  try {
    const started = performance.now();
    const restored = await restoreBackup(client, backupFile, { mode: 'add' });
    return { ms: performance.now() - started, items: restored.stored, valueBytes: restored.valueBytes };
  } finally {
    client.close();
  }
}

export interface Ceiling {
  readonly tunnelMBps: number;
  readonly tcpMBps: number;
}

const CEILING_VALUE = 1_000_000;
const CEILING_READS = 200;

/** Bytes/ms of `mg <key> v` answers for a 1 MB value read CEILING_READS times, pipelined. */
async function readRate(stream: Duplex, key: string): Promise<number> {
  let received = 0;
  const wanted = CEILING_READS * CEILING_VALUE;
  const started = performance.now();
  const done = new Promise<void>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received >= wanted) resolve();
    });
    stream.once('error', reject);
    stream.once('close', () => reject(new Error('bench: the connection closed mid-read')));
  });
  stream.write(`mg ${key} v\r\n`.repeat(CEILING_READS));
  await done;
  const ms = performance.now() - started;
  stream.destroy();
  return received / ms;
}

/** One forwarded channel vs one plain socket, carrying memcached replies and nothing else. */
export async function channelCeiling(
  playbookPath: string,
  hostName: string,
  direct: () => Promise<Duplex>,
): Promise<Ceiling> {
  const key = 'bench:ceiling';
  const setup = await direct();
  setup.write(`ms ${key} ${CEILING_VALUE} T60\r\n`);
  setup.write(Buffer.alloc(CEILING_VALUE, 0x61));
  setup.write('\r\n');
  await once(setup, 'data');
  setup.destroy();
  const playbook = await loadPlaybook(playbookPath);
  const host = playbook.hosts.find((h) => h.name === hostName);
  if (!host) throw new Error(`bench: ${playbookPath} has no host ${hostName}`);
  const transport = await openTransport(host);
  try {
    const tunnel = await readRate(await transport.openTcp(host.memcached.port), key);
    const tcp = await readRate(await direct(), key);
    // bytes/ms = kB/s; ÷ 1000 → MB/s.
    return { tunnelMBps: tunnel / 1000, tcpMBps: tcp / 1000 };
  } finally {
    await transport.close();
    // The backup measured next must hold the data set and nothing else.
    const cleanup = await direct();
    cleanup.write(`md ${key}\r\n`);
    await once(cleanup, 'data');
    cleanup.destroy();
  }
}
