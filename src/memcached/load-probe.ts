import { errorMessage } from '../errors.js';
import { MetaConnection, MetaProtocolError } from './meta-connection.js';
import type { StreamFactory } from './protocol-probe.js';

// A short, bounded get/set load on one connection, measured from the
// controller (so through whatever tunnel `open` gives). Each round runs the mix
// one request at a time, then in pipelined batches; the figures of a side are
// the medians over its rounds, so one noisy round does not decide anything.
// Writes go only to `writeKeys` (the caller's own namespace, short TTL as a
// safety net), which are deleted at the end, whatever happened.

export interface LoadOptions {
  /** Existing keys read by the get share (printable ASCII); empty: the written keys are read instead. */
  readonly readKeys: readonly string[];
  /** The only keys written; all deleted afterwards. */
  readonly writeKeys: readonly string[];
  readonly valueBytes: number;
  readonly rounds: number;
  /** Per mode, per round. */
  readonly roundMs: number;
  /** One request in `writeEvery` is a set; 0: reads only. */
  readonly writeEvery: number;
  readonly pipelineDepth: number;
  /** Seconds the written keys live if the delete never comes (memplay killed mid-load). */
  readonly writeTtl: number;
}

export interface RoundSummary {
  readonly opsPerSec: number;
  /** Single: per request; pipelined: per batch (the time a client waits for its batch). */
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** The medians over the rounds, and each round's own figures. */
export interface ModeFigures extends RoundSummary {
  readonly rounds: readonly RoundSummary[];
}

export interface LoadResult {
  readonly single: ModeFigures;
  readonly pipelined: ModeFigures;
  readonly rounds: number;
}

interface RoundFigures {
  readonly ops: number;
  readonly elapsedMs: number;
  readonly latenciesMs: number[];
}

/** The load's own keys may still be on the server: the caller must not let them be backed up. */
export class LoadCleanupFailed extends Error {
  override name = 'LoadCleanupFailed';
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return 0;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

function summarize(rounds: readonly RoundFigures[]): ModeFigures {
  const perRound = rounds.map((round): RoundSummary => {
    const sorted = [...round.latenciesMs].sort((a, b) => a - b);
    return {
      opsPerSec: round.elapsedMs > 0 ? (round.ops * 1000) / round.elapsedMs : 0,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
    };
  });
  return {
    opsPerSec: median(perRound.map((r) => r.opsPerSec)),
    p50Ms: median(perRound.map((r) => r.p50Ms)),
    p99Ms: median(perRound.map((r) => r.p99Ms)),
    rounds: perRound,
  };
}

function expectReply(command: string, accepted: (line: string) => boolean) {
  return (line: string): boolean => {
    if (!accepted(line)) throw new MetaProtocolError(`${command}: memcached replied ${line.slice(0, 120)}`);
    return true;
  };
}

const getReply = expectReply('mg', (line) => line.startsWith('VA ') || line === 'EN' || line === 'HD');
const setReply = expectReply('ms', (line) => line === 'HD');
const deleteReply = expectReply('md', (line) => line === 'HD' || line === 'NF');

export async function runLoad(open: StreamFactory, options: LoadOptions): Promise<LoadResult> {
  const connection = new MetaConnection(await open(), {
    maxInflightBytes: 4 << 20,
    maxInflightRequests: 1024,
  });
  const value = Buffer.alloc(Math.max(1, options.valueBytes), 'm');
  const reads = options.readKeys.length > 0 ? options.readKeys : options.writeKeys;
  let sequence = 0;
  const enqueueNext = () => {
    const n = sequence++;
    if (options.writeEvery > 0 && options.writeKeys.length > 0 && n % options.writeEvery === 0) {
      const key = options.writeKeys[n % options.writeKeys.length] as string;
      connection.enqueue([`ms ${key} ${value.length} T${options.writeTtl}\r\n`, value, '\r\n'], 64, setReply);
    } else {
      // `u`: memplay's reads leave the client items' LRU order as it was.
      connection.enqueue([`mg ${reads[n % reads.length] as string} v u\r\n`], 64 + value.length, getReply);
    }
  };
  try {
    // Every key written before the first read, so the get share never reads a
    // key that was not there yet when `readKeys` is empty.
    for (const key of options.writeKeys) {
      connection.enqueue([`ms ${key} ${value.length} T${options.writeTtl}\r\n`, value, '\r\n'], 64, setReply);
    }
    await connection.drain();
    // Unmeasured: the first requests on a fresh tunnel pay for its set-up.
    await timedRound(options.roundMs, async () => {
      for (let i = 0; i < options.pipelineDepth; i++) enqueueNext();
      await connection.drain();
      return options.pipelineDepth;
    });
    const single: RoundFigures[] = [];
    const pipelined: RoundFigures[] = [];
    for (let round = 0; round < options.rounds; round++) {
      single.push(
        await timedRound(options.roundMs, async (latencies) => {
          const started = performance.now();
          enqueueNext();
          await connection.drain();
          latencies.push(performance.now() - started);
          return 1;
        }),
      );
      pipelined.push(
        await timedRound(options.roundMs, async (latencies) => {
          const started = performance.now();
          for (let i = 0; i < options.pipelineDepth; i++) enqueueNext();
          await connection.drain();
          latencies.push(performance.now() - started);
          return options.pipelineDepth;
        }),
      );
    }
    return { single: summarize(single), pipelined: summarize(pipelined), rounds: options.rounds };
  } finally {
    await deleteKeys(connection, open, options.writeKeys);
  }
}

async function timedRound(
  roundMs: number,
  step: (latencies: number[]) => Promise<number>,
): Promise<RoundFigures> {
  const latenciesMs: number[] = [];
  const started = performance.now();
  let ops = 0;
  while (performance.now() - started < roundMs) ops += await step(latenciesMs);
  return { ops, elapsedMs: performance.now() - started, latenciesMs };
}

/** Deletes the load's own keys; on a fresh connection when the load's broke. Throws if any may remain. */
async function deleteKeys(
  connection: MetaConnection,
  open: StreamFactory,
  keys: readonly string[],
): Promise<void> {
  const attempt = async (target: MetaConnection) => {
    for (const key of keys) target.enqueue([`md ${key}\r\n`], 64, deleteReply);
    await target.drain();
  };
  try {
    if (connection.error) throw connection.error;
    await attempt(connection);
    connection.close();
  } catch {
    connection.close();
    try {
      const fresh = new MetaConnection(await open(), {
        maxInflightBytes: 1 << 20,
        maxInflightRequests: 1024,
      });
      try {
        await attempt(fresh);
      } finally {
        fresh.close();
      }
    } catch (error) {
      throw new LoadCleanupFailed(`deleting the load's keys ${keys[0]}… failed: ${errorMessage(error)}`);
    }
  }
}
