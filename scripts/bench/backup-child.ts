import { backupFullPass, CasIndex } from '../../src/memcached/backup-pass.js';
import { createBackupWriter } from '../../src/memcached/backup-writer.js';
import { MetaClient } from '../../src/memcached/meta-client.js';
import { directFactory } from './direct-factory.js';
import { procStatusBytes } from './proc-status.js';
import { connectThroughSsh } from './tunnel.js';

// One full-pass backup in a process of its own, so its peak RSS and its CPU
// time are the controller's and nothing else's. Usage:
//   node dist/scripts/bench/backup-child.js '{"playbook":…,"host":"host1","dir":…}'
// Prints one JSON line (BackupRun) on stdout.

export interface BackupRequest {
  readonly playbook: string;
  readonly host: string;
  readonly dir: string;
  /**
   * Straight to this memcached port over plain TCP instead of through the
   * host's SSH tunnel: the same pass with no SSH code in the process, so its
   * CPU time is memplay's own per-item cost (metadump parse, index, hash, write).
   */
  readonly tcpPort?: number;
}

export interface BackupRun {
  readonly via: 'tunnel' | 'tcp';
  readonly path: string;
  readonly fileBytes: number;
  readonly listed: number;
  readonly written: number;
  readonly valueBytes: number;
  readonly vanishedDuringDump: number;
  readonly currItemsBefore: number;
  readonly mode: string;
  readonly connectMs: number;
  /** backupFullPass alone. */
  readonly passMs: number;
  /** createBackupWriter + backupFullPass + finish (header, fsync, rename). */
  readonly backupMs: number;
  /** CPU time of this process over backupMs (process.cpuUsage: user and system, every thread). */
  readonly cpuUserMs: number;
  readonly cpuSystemMs: number;
  /** Before connecting: what Node itself takes. */
  readonly rssAtStartBytes: number;
  readonly peakRssBytes: number;
  readonly maxRssBytes: number;
  /** Sampled every 20 ms: where the peak sits (V8 heap or Buffers). */
  readonly peakHeapUsedBytes: number;
  readonly peakArrayBuffersBytes: number;
}

/** Peaks of process.memoryUsage(), sampled while `work` runs. */
async function sampled<T>(work: () => Promise<T>): Promise<[T, { heapUsed: number; arrayBuffers: number }]> {
  const peaks = { heapUsed: 0, arrayBuffers: 0 };
  const sample = () => {
    const usage = process.memoryUsage();
    peaks.heapUsed = Math.max(peaks.heapUsed, usage.heapUsed);
    peaks.arrayBuffers = Math.max(peaks.arrayBuffers, usage.arrayBuffers);
  };
  const timer = setInterval(sample, 20);
  try {
    const result = await work();
    sample();
    return [result, peaks];
  } finally {
    clearInterval(timer);
  }
}

/** As src/tasks/memcached-client.ts connectMeta. */
const TASK_CONNECTIONS = 2;

async function connectOverTcp(
  port: number,
): Promise<{ client: MetaClient; connectMs: number; close(): Promise<void> }> {
  const started = performance.now();
  const client = await MetaClient.connect(directFactory(port), { connections: TASK_CONNECTIONS });
  return {
    client,
    connectMs: performance.now() - started,
    async close() {
      client.close();
    },
  };
}

async function main(): Promise<void> {
  const request = JSON.parse(process.argv[2] ?? '') as BackupRequest;
  const rssAtStartBytes = procStatusBytes('VmRSS');
  const link =
    request.tcpPort === undefined
      ? await connectThroughSsh(request.playbook, request.host)
      : await connectOverTcp(request.tcpPort);
  try {
    const { client } = link;
    // As the backup task, whose plan reads curr_items before the pass: the index is sized from it.
    const expectedItems = Number((await client.stats()).get('curr_items') ?? 0);
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    const running = await client.version();
    const clock = await client.serverClock();
    const writer = await createBackupWriter({
      dir: request.dir,
      host: request.host,
      memcachedVersion: running,
      serverTime: clock.now(),
    });
    const [{ full, path, header }, peaks] = await sampled(async () => {
      const full = await backupFullPass(client, writer, new CasIndex(expectedItems), clock);
      return { full, ...(await writer.finish()) };
    });
    const cpu = process.cpuUsage(cpuBefore);
    const passMs = full.durationMs;
    const backupMs = performance.now() - started;
    const run: BackupRun = {
      via: request.tcpPort === undefined ? 'tunnel' : 'tcp',
      path,
      fileBytes: header.recordBytes,
      listed: full.listed,
      written: full.written,
      valueBytes: full.valueBytes,
      vanishedDuringDump: full.vanishedDuringDump,
      currItemsBefore: full.currItemsBefore,
      mode: full.mode,
      connectMs: link.connectMs,
      passMs,
      backupMs,
      // cpuUsage reports microseconds.
      cpuUserMs: cpu.user / 1000,
      cpuSystemMs: cpu.system / 1000,
      rssAtStartBytes,
      peakRssBytes: procStatusBytes('VmHWM'),
      // resourceUsage reports kilobytes.
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
      peakHeapUsedBytes: peaks.heapUsed,
      peakArrayBuffersBytes: peaks.arrayBuffers,
    };
    process.stdout.write(`${JSON.stringify(run)}\n`);
  } finally {
    await link.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `backup-child: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
