import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

// A metadump must be read as fast as memcached sends it, never paced by what
// is done with it. 1.6.18's hash crawl waits for socket space while holding an
// item-lock stripe (crawler.c item_crawl_hash → lru_crawler_client_getbuf;
// 1.6.38 grows its buffer instead), so a reader that stops reading blocks the
// worker threads that touch keys in that stripe: production clients, and our
// own mg pipeline. Measured: backing up 100k items / 120 MB from 1.6.18 with the
// metadump paced by the mg window hung in 2 runs of 5 — memcached stopped
// reading our mg connections (Recv-Q 144 KB, state conn_parse_cmd) while the
// crawler's socket was full; with this spool, 0 hangs in 20+ runs.
//
// So the socket is drained into this FIFO: up to `memoryBytes` in memory, the
// rest appended to a private temporary file and read back in order. Memory
// stays bounded whatever the cache size; the disk holds what the consumer
// has not caught up with.

export interface SpoolOptions {
  /** Bytes kept in memory before spilling to disk. Default 4 MiB. */
  readonly memoryBytes?: number;
  /** Where the spill file goes (a private 0700 directory is made inside). Default os.tmpdir(). */
  readonly spillDir?: string;
}

/**
 * What one read of the spill file hands the parser. Each chunk becomes one batch
 * of entries that stay alive until the whole batch has gone through the mg
 * pipeline: 1 MB chunks (≈ 9,000 entries) lived long enough to be promoted to
 * V8's old generation, where they waited for a full GC and raised the
 * controller's peak RSS backing up 1 GB; 64 KB batches die young.
 */
const READ_CHUNK = 64 * 1024;

export class MetadumpSpool implements AsyncIterable<Buffer> {
  private readonly memory: Buffer[] = [];
  private memoryBytes = 0;
  private readonly limit: number;
  private spill: { dir: string; file: Awaited<ReturnType<typeof open>> } | undefined;
  private spillOpening: Promise<void> | undefined;
  /** Bytes appended to / read from the spill file. */
  private spillWritten = 0;
  private spillRead = 0;
  private spillWrites: Promise<void> = Promise.resolve();
  private pendingSpillBytes = 0;
  /** Chunks waiting for the spill file; the first is being written while more arrive. */
  private readonly spillQueue: Buffer[] = [];
  private spillLoop = false;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly options: SpoolOptions = {}) {
    this.limit = options.memoryBytes ?? 4 * 1024 * 1024;
  }

  /** Drains a stream into the spool from now on (flowing mode: never paused). */
  drain(stream: Readable): void {
    stream.on('data', (chunk: Buffer) => this.write(chunk));
    stream.on('end', () => this.end());
    stream.on('close', () => this.end());
    stream.on('error', (error: Error) => this.fail(error));
  }

  write(chunk: Buffer): void {
    if (this.ended || this.failure) return;
    const spilling = this.spillWritten + this.pendingSpillBytes > this.spillRead;
    if (!spilling && this.memoryBytes + chunk.length <= this.limit) {
      this.memory.push(chunk);
      this.memoryBytes += chunk.length;
    } else {
      this.appendToSpill(chunk);
    }
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  fail(error: Error): void {
    this.failure ??= error;
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    try {
      for (;;) {
        if (this.failure) throw this.failure;
        const chunk = this.memory.shift();
        if (chunk) {
          this.memoryBytes -= chunk.length;
          yield chunk;
          continue;
        }
        if (this.spillWritten > this.spillRead) {
          yield await this.readSpill();
          continue;
        }
        if (this.pendingSpillBytes > 0) {
          await this.spillWrites;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    this.ended = true;
    this.memory.length = 0;
    await this.spillWrites.catch(() => {});
    await this.spillOpening?.catch(() => {});
    const spill = this.spill;
    this.spill = undefined;
    if (spill) {
      await spill.file.close().catch(() => {});
      await rm(spill.dir, { recursive: true, force: true });
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /**
   * Queues a chunk for the spill file. Chunks that arrive while a write is
   * under way are written together by the next writev: one file write per
   * chunk fell behind a fast metadump and held most of it in memory (79 MB of
   * a 1 GB cache's listing, measured), which is what spilling is meant to avoid.
   */
  private appendToSpill(chunk: Buffer): void {
    this.spillOpening ??= (async () => {
      const dir = await mkdtemp(join(this.options.spillDir ?? tmpdir(), 'memplay-metadump-'));
      this.spill = { dir, file: await open(join(dir, 'spool'), 'w+', 0o600) };
    })();
    this.pendingSpillBytes += chunk.length;
    this.spillQueue.push(chunk);
    if (this.spillLoop) return;
    this.spillLoop = true;
    const opening = this.spillOpening;
    this.spillWrites = this.spillWrites.then(async () => {
      await opening;
      const spill = this.spill;
      if (!spill) return;
      // Runs until the queue is empty; a chunk pushed meanwhile is picked up here.
      while (this.spillQueue.length > 0) {
        let buffers = this.spillQueue.splice(0);
        while (buffers.length > 0) {
          const { bytesWritten } = await spill.file.writev(buffers, this.spillWritten);
          if (bytesWritten <= 0) throw new Error('metadump spool: short write to the spill file');
          this.spillWritten += bytesWritten;
          this.pendingSpillBytes -= bytesWritten;
          buffers = after(buffers, bytesWritten);
        }
        this.notify();
      }
      this.spillLoop = false;
    });
    this.spillWrites.catch((error: Error) => this.fail(error));
  }

  private async readSpill(): Promise<Buffer> {
    const spill = this.spill;
    if (!spill) throw new Error('metadump spool: spill file vanished');
    const length = Math.min(READ_CHUNK, this.spillWritten - this.spillRead);
    const buffer = Buffer.allocUnsafe(length);
    const { bytesRead } = await spill.file.read(buffer, 0, length, this.spillRead);
    this.spillRead += bytesRead;
    return buffer.subarray(0, bytesRead);
  }
}

/** The buffers after their first `bytes` bytes (what a short writev left). */
function after(buffers: Buffer[], bytes: number): Buffer[] {
  let left = bytes;
  let first = 0;
  while (first < buffers.length && left >= (buffers[first] as Buffer).length) {
    left -= (buffers[first] as Buffer).length;
    first++;
  }
  const rest = buffers.slice(first);
  if (left > 0 && rest.length > 0) rest[0] = (rest[0] as Buffer).subarray(left);
  return rest;
}
