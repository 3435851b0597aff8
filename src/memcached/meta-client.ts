import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { addBinaryOnly, fetchBinaryOnly, getsReply } from './classic-protocol.js';
import {
  absoluteExptime,
  listedOrMeasuredExptime,
  type ServerClock,
  serverClockFrom,
  storeTtl,
} from './expiry.js';
import { classicKeyToken, displayKey, type EncodedKey, encodeKey, KeyEncodingError } from './key-encoding.js';
import { MetaConnection, MetaProtocolError } from './meta-connection.js';
import { type MetadumpEntry, MetadumpError, type MetadumpMode, parseMetadumpBatches } from './metadump.js';
import { MetadumpSpool } from './metadump-spool.js';

// A client for memcached's meta protocol (mg/ms/md/mn) plus `stats` and
// `lru_crawler metadump`, over any Duplex: an ssh2 forwarded channel or a
// net.Socket. Bulk reads and writes are pipelined over several connections
// with a bounded window of in-flight bytes, so throughput is limited by the
// link, not by round trips, and memory stays bounded whatever the cache size.

export type ConnectionFactory = () => Promise<Duplex>;

export interface MetaClientOptions {
  /** Parallel connections for fetchItems/storeItems. Default 2. */
  readonly connections?: number;
  /** Bound on reply/request bytes outstanding, over all connections. Default 4 MiB. */
  readonly maxInflightBytes?: number;
  /** Bound on requests outstanding per connection. Default 2048. */
  readonly maxInflightRequests?: number;
  /** How long metadump keeps retrying while the crawler is busy. Default 60 s. */
  readonly metadumpBusyTimeoutMs?: number;
  /** Where a metadump the consumer lags behind spills (see MetadumpSpool). Default os.tmpdir(). */
  readonly metadumpSpillDir?: string;
  /** Metadump bytes held in memory before spilling. Default 4 MiB. */
  readonly metadumpMemoryBytes?: number;
}

export interface FetchRequest {
  readonly key: Buffer;
  /** Item size from metadump, if known: sizes the in-flight window. */
  readonly size?: number;
  /**
   * metadump's absolute exptime (0 = never): `gets`, which returns none, takes
   * it as is; `mg` prefers it to its own clock-based reading when the cas
   * agrees (listedOrMeasuredExptime).
   */
  readonly exptime?: number;
  /** metadump's cas, which dated that exptime. */
  readonly cas?: number;
}

/**
 * How items are read: `mg` (meta, 1.6.10 and later: value, flags, TTL and cas
 * in one reply, base64 keys), or classic `gets` (every release: value, flags
 * and cas; the expiry comes from metadump with each request).
 */
export type FetchVia = 'meta' | 'gets';

export interface FetchedItem {
  readonly key: Buffer;
  readonly value: Buffer;
  /** Client flags, 0..4294967295. */
  readonly flags: number;
  /** Absolute unix seconds on the server's clock; 0 = never expires. */
  readonly exptime: number;
  readonly cas: number;
}

export interface FetchCounts {
  fetched: number;
  /** Gone between listing and fetching (expired, evicted or deleted meanwhile). */
  missing: number;
  valueBytes: number;
  /** Keys the meta protocol cannot address (see encodeKey), by display name. */
  unaddressable: string[];
}

export interface StoreItem {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly flags: number;
  /** Absolute unix seconds on the server's clock; 0 = never expires. */
  readonly exptime: number;
}

export type StoreMode = 'add' | 'set';

export interface StoreCounts {
  stored: number;
  /** add mode: the key already existed on the server (a client wrote it first); left untouched. */
  keptNewer: number;
  /** Expired before it could be restored: not sent. */
  expiredSkipped: number;
  valueBytes: number;
  /** SERVER_ERROR object too large for cache, by display name. */
  tooLarge: string[];
  /** SERVER_ERROR out of memory storing object, by display name. */
  outOfMemory: string[];
  /** Keys the meta protocol cannot address, by display name. */
  unaddressable: string[];
}

export interface DeleteCounts {
  deleted: number;
  notFound: number;
}

/** Metadump entries, then (as the generator's return value) the mode that was used. */
export type MetadumpStream = AsyncGenerator<MetadumpEntry, { mode: MetadumpMode; entries: number }>;

function keyFlag(encoded: EncodedKey): string {
  return encoded.base64 ? ' b' : '';
}

/** The numeric value of return flag `name` in a reply line with no size, like `HD c42` or `NS c0`. */
function headerFlag(line: string, name: string): number {
  for (const token of line.split(' ').slice(1)) {
    if (token.startsWith(name)) {
      const value = Number(token.slice(name.length));
      return Number.isFinite(value) ? value : Number.NaN;
    }
  }
  return Number.NaN;
}

/** The numeric value of flag `name` in a reply line like `VA 5 f1 t-1 c42`. */
function metaFlag(line: string, name: string, fallback: number): number {
  const at = line.indexOf(` ${name}`, 3);
  if (at < 0) return fallback;
  const end = line.indexOf(' ', at + 2);
  const value = Number(line.slice(at + 2, end < 0 ? undefined : end));
  return Number.isFinite(value) ? value : fallback;
}

function replyError(command: string, key: Buffer, line: string): MetaProtocolError {
  return new MetaProtocolError(`${command} ${displayKey(key)}: memcached replied ${line.slice(0, 200)}`);
}

export class MetaClient {
  private next = 0;

  private constructor(
    private readonly factory: ConnectionFactory,
    private readonly connections: MetaConnection[],
    private readonly options: MetaClientOptions,
  ) {}

  static async connect(factory: ConnectionFactory, options: MetaClientOptions = {}): Promise<MetaClient> {
    const count = Math.max(1, options.connections ?? 2);
    const limits = {
      maxInflightBytes: Math.max(
        64 * 1024,
        Math.floor((options.maxInflightBytes ?? 4 * 1024 * 1024) / count),
      ),
      maxInflightRequests: options.maxInflightRequests ?? 2048,
    };
    const streams = await Promise.allSettled(Array.from({ length: count }, () => factory()));
    const failed = streams.find((s) => s.status === 'rejected');
    if (failed) {
      for (const s of streams) if (s.status === 'fulfilled') s.value.destroy();
      throw failed.reason;
    }
    const connections = streams.map(
      (s) => new MetaConnection((s as PromiseFulfilledResult<Duplex>).value, limits),
    );
    return new MetaClient(factory, connections, options);
  }

  get connectionCount(): number {
    return this.connections.length;
  }

  /**
   * `mg <key>` (no flags: nothing is read or bumped) of `keys[i]` on connection i,
   * all at once: a change watch learns each connection's fd from the lookups.
   */
  async lookUpOnEachConnection(keys: readonly string[]): Promise<void> {
    await Promise.all(
      keys.map((key, i) =>
        (this.connections[i % this.connections.length] as MetaConnection).request(
          [`mg ${key}\r\n`],
          (line) => {
            if (line === 'EN' || line === 'HD') return true;
            throw new MetaProtocolError(`unexpected reply to mg ${key}: ${line}`);
          },
        ),
      ),
    );
  }

  private get primary(): MetaConnection {
    return this.connections[0] as MetaConnection;
  }

  /** `stats` or `stats <group>` as a name → value map. */
  async stats(group?: string): Promise<Map<string, string>> {
    const stats = new Map<string, string>();
    await this.primary.request([group ? `stats ${group}\r\n` : 'stats\r\n'], (line) => {
      if (line === 'END') return true;
      if (!line.startsWith('STAT ')) throw new MetaProtocolError(`unexpected reply to stats: ${line}`);
      const space = line.indexOf(' ', 5);
      stats.set(line.slice(5, space < 0 ? undefined : space), space < 0 ? '' : line.slice(space + 1));
      return false;
    });
    return stats;
  }

  statsSettings(): Promise<Map<string, string>> {
    return this.stats('settings');
  }

  async version(): Promise<string> {
    let version = '';
    await this.primary.request(['version\r\n'], (line) => {
      if (!line.startsWith('VERSION ')) throw new MetaProtocolError(`unexpected reply to version: ${line}`);
      version = line.slice(8);
      return true;
    });
    return version;
  }

  /** The server's clock (`stats` time), advanced locally from now on. */
  async serverClock(): Promise<ServerClock> {
    const stats = await this.stats();
    const time = Number(stats.get('time'));
    if (!Number.isInteger(time)) throw new MetaProtocolError('stats has no time');
    return serverClockFrom(time);
  }

  /**
   * Streams `lru_crawler metadump` over a connection of its own (the crawler
   * takes it over until END). `auto` uses `hash` (every item exactly once, even
   * as the LRU shuffles) and falls back to `all` where the server lacks it.
   * BUSY before the first entry is retried with backoff; a refusal after
   * entries were produced throws MetadumpError (retryable for the caller).
   */
  async *metadumpEntries(mode: MetadumpMode | 'auto' = 'auto'): MetadumpStream {
    let current: MetadumpMode = mode === 'auto' ? 'hash' : mode;
    const deadline = Date.now() + (this.options.metadumpBusyTimeoutMs ?? 60_000);
    let backoff = 100;
    for (;;) {
      const stream = await this.factory();
      let produced = 0;
      try {
        // Drained at full speed whatever the consumer does: see MetadumpSpool.
        const spool = new MetadumpSpool({
          spillDir: this.options.metadumpSpillDir,
          memoryBytes: this.options.metadumpMemoryBytes,
        });
        spool.drain(stream);
        stream.write(`lru_crawler metadump ${current}\r\n`);
        const batches = parseMetadumpBatches(spool);
        for (;;) {
          const step = await batches.next();
          if (step.done) return { mode: current, entries: step.value };
          produced += step.value.length;
          yield* step.value;
        }
      } catch (error) {
        if (!(error instanceof MetadumpError) || produced > 0) throw error;
        if (error.refusal === 'unsupported-mode' && mode === 'auto' && current === 'hash') {
          current = 'all';
          continue;
        }
        if (!error.retryable || Date.now() + backoff > deadline) throw error;
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
      } finally {
        stream.destroy();
      }
    }
  }

  /** metadumpEntries with a callback; the callback may return a promise to slow the dump down. */
  async metadump(
    mode: MetadumpMode | 'auto',
    onEntry: (entry: MetadumpEntry) => void | Promise<void>,
  ): Promise<{ mode: MetadumpMode; entries: number }> {
    const entries = this.metadumpEntries(mode);
    for (;;) {
      const step = await entries.next();
      if (step.done) return step.value;
      await onEntry(step.value);
    }
  }

  private async pickConnection(): Promise<MetaConnection> {
    for (let tries = 0; tries < this.connections.length; tries++) {
      const connection = this.connections[this.next++ % this.connections.length] as MetaConnection;
      if (connection.error) throw connection.error;
      if (connection.hasRoom) return connection;
    }
    const connection = this.connections[this.next++ % this.connections.length] as MetaConnection;
    await connection.waitForRoom();
    return connection;
  }

  /** Runs a producer loop; if it throws, lets the requests it already sent finish first. */
  private async drainingOnError(produce: () => Promise<void>): Promise<void> {
    try {
      await produce();
    } catch (error) {
      await this.drainAll().catch(() => {});
      throw error;
    }
  }

  private async drainAll(): Promise<void> {
    await Promise.all(this.connections.map((c) => c.drain()));
  }

  /**
   * Pipelined `mg <key> [b] v f t c`: value, client flags, remaining TTL (made
   * absolute with the server clock) and cas for every key. onItem may return a
   * promise: reading pauses until it resolves. The value Buffer may share
   * memory with the socket's chunk; copy it to keep it beyond the callback.
   */
  async fetchItems<R extends FetchRequest>(
    keys: AsyncIterable<R> | Iterable<R>,
    onItem: (item: FetchedItem, request: R) => void | Promise<void>,
    options: { onMissing?: (request: R) => void; clock?: ServerClock; via?: FetchVia } = {},
  ): Promise<FetchCounts> {
    const clock = options.clock ?? (await this.serverClock());
    const counts: FetchCounts = { fetched: 0, missing: 0, valueBytes: 0, unaddressable: [] };
    let failure: Error | undefined;
    /** `gets` only: keys the text protocol cannot name, read through the binary protocol at the end. */
    const binaryOnly: R[] = [];
    await this.drainingOnError(async () => {
      for await (const request of keys) {
        if (failure) break;
        if (options.via === 'gets') {
          let token: string;
          try {
            token = classicKeyToken(request.key);
          } catch (error) {
            if (!(error instanceof KeyEncodingError)) throw error;
            if (error.problem === 'not-text') binaryOnly.push(request);
            else counts.unaddressable.push(displayKey(request.key));
            continue;
          }
          const connection = await this.pickConnection();
          connection.enqueue(
            [`gets ${token}\r\n`],
            (request.size ?? 1024) + 64,
            getsReply(request, counts, onItem, options.onMissing, (error) => {
              failure ??= error;
            }),
          );
          continue;
        }
        let encoded: EncodedKey;
        try {
          encoded = encodeKey(request.key);
        } catch (error) {
          if (!(error instanceof KeyEncodingError)) throw error;
          counts.unaddressable.push(displayKey(request.key));
          continue;
        }
        const connection = await this.pickConnection();
        const key = request.key;
        connection.enqueue(
          [`mg ${encoded.token}${keyFlag(encoded)} v f t c\r\n`],
          (request.size ?? 1024) + 64,
          (line, value) => {
            if (value !== undefined) {
              const flags = metaFlag(line, 'f', 0);
              const ttl = metaFlag(line, 't', -1);
              const cas = metaFlag(line, 'c', 0);
              counts.fetched++;
              counts.valueBytes += value.length;
              const exptime = listedOrMeasuredExptime(absoluteExptime(ttl, clock.now()), cas, request);
              const item = { key, value, flags, exptime, cas };
              const pending = onItem(item, request);
              return pending ? pending.then(() => true) : true;
            }
            if (line === 'EN') {
              counts.missing++;
              options.onMissing?.(request);
              return true;
            }
            failure ??= replyError('mg', key, line);
            return true;
          },
        );
      }
    });
    await this.drainAll();
    if (failure) throw failure;
    if (binaryOnly.length > 0) {
      const stream = await this.factory();
      try {
        await fetchBinaryOnly(stream, binaryOnly, counts, onItem, options.onMissing);
      } finally {
        stream.destroy();
      }
    }
    return counts;
  }

  /**
   * Pipelined `ms <key> <len> [b] F<flags> T<ttl> M<E|S>`. TTLs are recomputed
   * from each item's absolute exptime against the target's clock; items whose
   * time ran out are skipped and counted. In add mode (ME) a key a client has
   * already written is left alone (NS → keptNewer).
   *
   * Not quiet mode: measured on 1.6.18 and 1.6.38, `SERVER_ERROR object too
   * large` carries no opaque, so with `q` a failure could not be tied to its
   * key. Every ms is answered instead, in order; HD costs 4 bytes.
   */
  async storeItems(
    items: AsyncIterable<StoreItem> | Iterable<StoreItem>,
    options: {
      mode: StoreMode;
      onStored?: (key: Buffer, cas: number) => void;
      /** `text`: classic add/set, for a server without meta (a rollback into 1.5); no cas to report. */
      via?: 'meta' | 'text';
    },
    clock: ServerClock,
  ): Promise<StoreCounts> {
    const counts: StoreCounts = {
      stored: 0,
      keptNewer: 0,
      expiredSkipped: 0,
      valueBytes: 0,
      tooLarge: [],
      outOfMemory: [],
      unaddressable: [],
    };
    // `c`: the cas of what was stored, for a caller that must later tell its own copy from a client's.
    const modeFlag = `${options.mode === 'add' ? 'ME' : 'MS'}${options.onStored ? ' c' : ''}`;
    const { onStored } = options;
    let failure: Error | undefined;
    /** `text` only: items the text protocol cannot name, added through the binary protocol at the end (exptime: the TTL to send). */
    const binaryOnly: StoreItem[] = [];
    await this.drainingOnError(async () => {
      for await (const item of items) {
        if (failure) break;
        const ttl = storeTtl(item.exptime, clock.now());
        if (ttl === undefined) {
          counts.expiredSkipped++;
          continue;
        }
        if (options.via === 'text') {
          let token: string;
          try {
            token = classicKeyToken(item.key);
          } catch (error) {
            if (!(error instanceof KeyEncodingError)) throw error;
            if (error.problem === 'not-text' && options.mode === 'add') {
              binaryOnly.push({
                ...item,
                key: Buffer.from(item.key),
                value: Buffer.from(item.value),
                exptime: ttl,
              });
            } else counts.unaddressable.push(displayKey(item.key));
            continue;
          }
          const connection = await this.pickConnection();
          const key = item.key;
          const size = item.value.length;
          // Classic exptime reads like ms's T: up to 30 days relative, beyond that absolute.
          const header = `${options.mode} ${token} ${item.flags >>> 0} ${ttl} ${size}\r\n`;
          connection.enqueue([header, item.value, '\r\n'], size + header.length, (line) => {
            if (line === 'STORED') {
              counts.stored++;
              counts.valueBytes += size;
            } else if (line === 'NOT_STORED') counts.keptNewer++;
            else if (line.startsWith('SERVER_ERROR object too large')) counts.tooLarge.push(displayKey(key));
            else if (line.startsWith('SERVER_ERROR out of memory')) counts.outOfMemory.push(displayKey(key));
            else failure ??= replyError(options.mode, key, line);
            return true;
          });
          continue;
        }
        let encoded: EncodedKey;
        try {
          encoded = encodeKey(item.key);
        } catch (error) {
          if (!(error instanceof KeyEncodingError)) throw error;
          counts.unaddressable.push(displayKey(item.key));
          continue;
        }
        const connection = await this.pickConnection();
        const key = item.key;
        const size = item.value.length;
        const header = `ms ${encoded.token} ${size}${keyFlag(encoded)} F${item.flags >>> 0} T${ttl} ${modeFlag}\r\n`;
        connection.enqueue([header, item.value, '\r\n'], size + header.length, (line) => {
          if (line === 'HD' || line.startsWith('HD ')) {
            counts.stored++;
            counts.valueBytes += size;
            onStored?.(key, headerFlag(line, 'c'));
          } else if (line === 'NS' || line.startsWith('NS ')) counts.keptNewer++;
          else if (line.startsWith('SERVER_ERROR object too large')) counts.tooLarge.push(displayKey(key));
          else if (line.startsWith('SERVER_ERROR out of memory')) counts.outOfMemory.push(displayKey(key));
          else failure ??= replyError('ms', key, line);
          return true;
        });
      }
    });
    await this.drainAll();
    if (failure) throw failure;
    if (binaryOnly.length > 0) {
      const stream = await this.factory();
      try {
        await addBinaryOnly(stream, binaryOnly, counts);
      } finally {
        stream.destroy();
      }
    }
    return counts;
  }

  /** Pipelined `mg <key> [b] c`: each key's cas now, or undefined where it is gone. Nothing is read or bumped. */
  async casOf(keys: readonly Buffer[]): Promise<Array<number | undefined>> {
    const result: Array<number | undefined> = new Array(keys.length).fill(undefined);
    let failure: Error | undefined;
    await this.drainingOnError(async () => {
      for (const [i, key] of keys.entries()) {
        let encoded: EncodedKey;
        try {
          encoded = encodeKey(key);
        } catch (error) {
          if (!(error instanceof KeyEncodingError)) throw error;
          // Cannot be looked at: reported as a cas no read can have had.
          result[i] = Number.NaN;
          continue;
        }
        const connection = await this.pickConnection();
        connection.enqueue([`mg ${encoded.token}${keyFlag(encoded)} c u\r\n`], 64, (line) => {
          if (line.startsWith('HD')) result[i] = headerFlag(line, 'c');
          else if (line !== 'EN') failure ??= replyError('mg', key, line);
          return true;
        });
      }
    });
    await this.drainAll();
    if (failure) throw failure;
    return result;
  }

  /** Pipelined `md <key> [b]`. */
  async deleteKeys(keys: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<DeleteCounts> {
    const counts: DeleteCounts = { deleted: 0, notFound: 0 };
    let failure: Error | undefined;
    for await (const key of keys) {
      const encoded = encodeKey(key);
      const connection = await this.pickConnection();
      connection.enqueue([`md ${encoded.token}${keyFlag(encoded)}\r\n`], 64, (line) => {
        if (line === 'HD') counts.deleted++;
        else if (line === 'NF') counts.notFound++;
        else failure ??= replyError('md', key, line);
        return true;
      });
    }
    await this.drainAll();
    if (failure) throw failure;
    return counts;
  }

  /** Pipelined `md <key> [b] C<cas>`: deletes each key only while it still holds that cas. */
  async deleteIfUnchanged(entries: ReadonlyArray<{ key: Buffer; cas: number }>): Promise<DeleteCounts> {
    const counts: DeleteCounts = { deleted: 0, notFound: 0 };
    let failure: Error | undefined;
    for (const { key, cas } of entries) {
      const encoded = encodeKey(key);
      const connection = await this.pickConnection();
      connection.enqueue([`md ${encoded.token}${keyFlag(encoded)} C${cas}\r\n`], 64, (line) => {
        if (line === 'HD') counts.deleted++;
        else if (line === 'NF' || line === 'EX') counts.notFound++;
        else failure ??= replyError('md', key, line);
        return true;
      });
    }
    await this.drainAll();
    if (failure) throw failure;
    return counts;
  }

  close(): void {
    for (const connection of this.connections) connection.close();
  }
}
