import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, lstat, open, readdir, rename, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { formatBytes } from '../units.js';
import {
  backupDirProblem,
  hostBackupDir,
  ownHostBackupDir,
  runningUid,
  UntrustedBackupFolder,
} from './backup-dir.js';
import {
  type BackupHeader,
  type BackupItem,
  backupFileName,
  encodeHeaderBlock,
  FORMAT_VERSION,
  HEADER_SIZE,
  ITEM_FIXED_SIZE,
  KEY_MAX_BYTES,
  RECORD_ITEM,
  RECORD_SECTION,
  RECORD_TOMBSTONE,
  RECORD_TRAILER,
  SECTION_DELTA,
  SECTION_FULL,
  SECTION_RECORD_SIZE,
  TOMBSTONE_RECORD_SIZE,
  TRAILER_SIZE,
  VALUE_MAX_BYTES,
} from './backup-layout.js';
import { KEY_DIGEST_BYTES } from './key-index.js';
import { SizeHistogram } from './restore-order.js';

// Streams a backup to disk: records are staged in a small buffer, written in
// batches of a few MB and hashed as they go, so the controller's memory is
// bounded whatever the cache size. The file lives under a temporary name until
// finish(), which completes the header, fsyncs file and directory, and renames.

export interface BackupWriterOptions {
  /** Backup root; the file goes to <dir>/<host>/. */
  readonly dir: string;
  readonly host: string;
  readonly memcachedVersion: string;
  /** The server's unix time when the full pass's metadump starts. */
  readonly serverTime: number;
  readonly createdAt?: Date;
  readonly metadata?: Record<string, unknown>;
}

export interface BackupWriter {
  /** Where the file will be once finished. */
  readonly path: string;
  /** Where it is being written. */
  readonly partialPath: string;
  /** Appends an item. Returns a promise when a batch is being written: await it before the next write. */
  writeItem(item: BackupItem): Promise<void> | undefined;
  /** Starts the delta pass section: items and tombstones from now on override the full pass. */
  beginDelta(serverTime: number): Promise<void> | undefined;
  /** Records that the key with this digest (keyDigest) was deleted after the full pass. */
  writeTombstone(keyDigest: Buffer): Promise<void> | undefined;
  /**
   * Writes everything appended so far and rethrows a write failure (ENOSPC): a
   * pass that reports success has its records on disk, not in flight.
   */
  flush(): Promise<void>;
  /** Completes, syncs and renames the file; returns its final path and header. */
  finish(metadata?: Record<string, unknown>): Promise<{ path: string; header: BackupHeader }>;
  /** Removes the partial file. */
  abort(): Promise<void>;
  /**
   * Bytes of staging buffers the writer holds (filled or ready to fill). Zero
   * before the first record and once finish() or abort() has run: a run keeps
   * each host's sealed backup (and so its writer) to the end, and a fleet of
   * hosts each holding a few MB of stages was most of the controller's memory.
   */
  readonly heldBytes: number;
}

const STAGE_BYTES = 256 * 1024;
// A batch of 1 MB and 2 MB in flight keep the disk busy (writes land in the page
// cache) while holding half of what 2 + 4 MB did in the controller's peak RSS.
const BATCH_BYTES = 1024 * 1024;
const MAX_WRITING_BYTES = 2 * 1024 * 1024;
/** Values at least this big are written from their own buffer instead of being copied into the stage. */
const COPY_LIMIT = 32 * 1024;
/** Enough stages for the batches in flight. */
const MAX_FREE_STAGES = (BATCH_BYTES + MAX_WRITING_BYTES) / STAGE_BYTES;
const EMPTY = Buffer.alloc(0);

const fileProblems: Record<string, string> = {
  ENOSPC: 'no space left on its device (ENOSPC)',
  EDQUOT: 'the disk quota is used up (EDQUOT)',
  EROFS: 'its file system is read-only (EROFS)',
  EACCES: 'permission denied (EACCES)',
  EPERM: 'permission denied (EPERM)',
  ENOTDIR: 'part of the path is a file, not a folder (ENOTDIR)',
  EIO: 'an I/O error (EIO)',
};

/**
 * A write to the backup folder failed: the message names the folder, the
 * cause in words with its code, and what the user can do about it.
 */
export class BackupWriteError extends Error {
  override name = 'BackupWriteError';
  constructor(
    readonly dir: string,
    readonly code: string | undefined,
    cause: Error,
    writtenBytes: number,
  ) {
    const path = (cause as NodeJS.ErrnoException).path;
    // EEXIST names what exists: a file where a folder was to be made, or a file being created.
    const notAFolder = code === 'EEXIST' && (cause as NodeJS.ErrnoException).syscall === 'mkdir';
    const what =
      code === 'EEXIST'
        ? `${path ?? 'the path'} ${notAFolder ? 'is a file, not a folder' : 'already exists'} (EEXIST)`
        : ((code && fileProblems[code]) ?? cause.message);
    const after = writtenBytes > 0 ? ` after ${formatBytes(writtenBytes)}` : '';
    const next =
      code === 'ENOSPC' || code === 'EDQUOT'
        ? `free space in ${dir} (a backup needs about as much as the cache holds), or set backup.dir to a folder with room`
        : code === 'EEXIST' && !notAFolder
          ? 'nothing there was replaced; move it away, or run again'
          : `make ${dir} writable for memplay, or set backup.dir to a folder it can write`;
    super(`cannot write the backup to ${dir}: ${what}${after}; ${next}`, { cause });
  }
}

function writeError(dir: string, error: unknown, writtenBytes: number): Error {
  if (
    error instanceof BackupWriteError ||
    error instanceof UntrustedBackupFolder ||
    !(error instanceof Error)
  )
    return error as Error;
  const code = (error as NodeJS.ErrnoException).code;
  if (code === undefined) return error;
  return new BackupWriteError(dir, code, error, writtenBytes);
}

export async function createBackupWriter(options: BackupWriterOptions): Promise<BackupWriter> {
  const createdAt = options.createdAt ?? new Date();
  // Checked at plan time too; again here, since the folder may change in between.
  const unsafe = await backupDirProblem(options.dir, options.host);
  if (unsafe) throw new Error(unsafe);
  const name = backupFileName(createdAt, options.memcachedVersion);
  let hostDir: string;
  let file: FileHandle;
  let partialPath: string;
  try {
    hostDir = await ownHostBackupDir(options.dir, options.host);
    await removeStalePartials(hostDir);
    ({ file, partialPath } = await createPartial(hostDir, name));
  } catch (error) {
    throw writeError(hostBackupDir(options.dir, options.host), error, 0);
  }
  const path = join(hostDir, name);
  const writer = new StreamedBackup(file, hostDir, path, partialPath, {
    format: 'memplay-backup',
    version: FORMAT_VERSION,
    host: options.host,
    memcachedVersion: options.memcachedVersion,
    createdAt: createdAt.toISOString(),
    serverTimeAtDump: options.serverTime,
    serverTimeAtDelta: null,
    complete: false,
    items: 0,
    fullItems: 0,
    deltaItems: 0,
    tombstones: 0,
    valueBytes: 0,
    recordBytes: 0,
    recordsSha256: '',
    deltaOffset: null,
    metadata: options.metadata ?? {},
  });
  try {
    await file.write(encodeHeaderBlock(writer.header), 0, HEADER_SIZE, 0);
    await writer.writeSection(SECTION_FULL, options.serverTime);
  } catch (error) {
    await writer.abort();
    throw writeError(hostDir, error, 0);
  }
  return writer;
}

class StreamedBackup implements BackupWriter {
  private readonly sha256 = createHash('sha256');
  /** Allocated by the first record that needs it, released when the file is sealed or dropped. */
  private stage: Buffer = EMPTY;
  private stageUsed = 0;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  /** Stage buffers sealed into the batch: reused once their batch is on disk. */
  private batchStages: Buffer[] = [];
  /**
   * Written stages, ready to be filled again. Without reuse a 1 GB backup
   * allocated 1 GB of stages the GC had to find dead, and the controller's
   * peak RSS carried tens of MB of them.
   */
  private readonly freeStages: Buffer[] = [];
  /** Bytes handed to the file but not yet written. */
  private writingBytes = 0;
  /** File offset of the next byte to be written. */
  private position = HEADER_SIZE;
  /** Bytes of records appended so far (written or buffered). */
  private recordBytes = 0;
  private writing: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private closed = false;
  private inDelta = false;
  private counts = { fullItems: 0, deltaItems: 0, tombstones: 0, valueBytes: 0 };
  private deltaOffset: number | null = null;
  private serverTimeAtDelta: number | null = null;

  constructor(
    private readonly file: FileHandle,
    private readonly hostDir: string,
    readonly path: string,
    readonly partialPath: string,
    private placeholder: BackupHeader,
  ) {}

  private readonly sizes = new SizeHistogram();

  get header(): BackupHeader {
    return this.placeholder;
  }

  get heldBytes(): number {
    const stages = [this.stage, ...this.batchStages, ...this.freeStages];
    return stages.reduce((sum, stage) => sum + stage.length, 0);
  }

  writeItem(item: BackupItem): Promise<void> | undefined {
    if (item.key.length === 0 || item.key.length > KEY_MAX_BYTES) {
      throw new RangeError(`backup item key of ${item.key.length} bytes (1..${KEY_MAX_BYTES} allowed)`);
    }
    if (item.value.length > VALUE_MAX_BYTES) throw new RangeError('backup item value above 1 GiB');
    const fixed = this.reserve(ITEM_FIXED_SIZE + item.key.length);
    fixed[0] = RECORD_ITEM;
    fixed.writeUInt16BE(item.key.length, 1);
    fixed.writeUInt32BE(item.flags >>> 0, 3);
    fixed.writeBigInt64BE(BigInt(item.exptime), 7);
    fixed.writeBigUInt64BE(BigInt(item.cas), 15);
    fixed.writeUInt32BE(item.value.length, 23);
    item.key.copy(fixed, ITEM_FIXED_SIZE);
    if (item.value.length < COPY_LIMIT) {
      item.value.copy(this.reserve(item.value.length));
    } else {
      this.sealStage();
      this.batch.push(item.value);
      this.batchBytes += item.value.length;
      this.recordBytes += item.value.length;
    }
    if (this.inDelta) this.counts.deltaItems++;
    else this.counts.fullItems++;
    this.counts.valueBytes += item.value.length;
    this.sizes.add(item.key.length, item.value.length);
    return this.maybeWrite();
  }

  beginDelta(serverTime: number): Promise<void> | undefined {
    if (this.deltaOffset === null) this.deltaOffset = HEADER_SIZE + this.recordBytes;
    this.inDelta = true;
    this.serverTimeAtDelta = serverTime;
    return this.writeSection(SECTION_DELTA, serverTime);
  }

  writeSection(section: number, serverTime: number): Promise<void> | undefined {
    const record = this.reserve(SECTION_RECORD_SIZE);
    record[0] = RECORD_SECTION;
    record[1] = section;
    record.writeBigInt64BE(BigInt(serverTime), 2);
    return this.maybeWrite();
  }

  writeTombstone(keyDigest: Buffer): Promise<void> | undefined {
    if (!this.inDelta) throw new Error('a tombstone belongs to the delta pass: call beginDelta first');
    if (keyDigest.length !== KEY_DIGEST_BYTES)
      throw new RangeError(`key digest must be ${KEY_DIGEST_BYTES} bytes`);
    const record = this.reserve(TOMBSTONE_RECORD_SIZE);
    record[0] = RECORD_TOMBSTONE;
    keyDigest.copy(record, 1);
    this.counts.tombstones++;
    return this.maybeWrite();
  }

  async flush(): Promise<void> {
    if (this.failure) throw this.failure;
    this.sealStage();
    this.queueWrite();
    await this.writing;
    if (this.failure) throw this.failure;
    // The pass is on disk and the writer waits (for the delta pass, right before
    // the swap): its stages are allocated again if more records come.
    if (this.stageUsed === 0 && this.batch.length === 0 && this.writingBytes === 0) this.releaseStages();
  }

  async finish(metadata?: Record<string, unknown>): Promise<{ path: string; header: BackupHeader }> {
    try {
      this.sealStage();
      this.queueWrite();
      await this.writing;
      if (this.failure) throw this.failure;
      const digest = this.sha256.digest();
      const items = this.counts.fullItems + this.counts.deltaItems;
      const trailer = Buffer.alloc(TRAILER_SIZE);
      trailer[0] = RECORD_TRAILER;
      trailer.writeBigUInt64BE(BigInt(items), 1);
      trailer.writeBigUInt64BE(BigInt(this.counts.tombstones), 9);
      trailer.writeBigUInt64BE(BigInt(this.counts.valueBytes), 17);
      trailer.writeBigUInt64BE(BigInt(this.recordBytes), 25);
      digest.copy(trailer, 33);
      const header: BackupHeader = {
        ...this.placeholder,
        serverTimeAtDelta: this.serverTimeAtDelta,
        complete: true,
        items,
        ...this.counts,
        recordBytes: this.recordBytes,
        recordsSha256: digest.toString('hex'),
        deltaOffset: this.deltaOffset,
        // A restore stores the rarest sizes last, so a full cache fits again (restore-order.ts).
        metadata: { ...this.placeholder.metadata, ...metadata, sizeHistogram: this.sizes.toJSON() },
      };
      const headerBlock = encodeHeaderBlock(header);
      createHash('sha256').update(headerBlock).digest().copy(trailer, 65);
      await this.file.write(trailer, 0, TRAILER_SIZE, this.position);
      await this.file.write(headerBlock, 0, HEADER_SIZE, 0);
      await this.file.sync();
      await this.file.close();
      this.closed = true;
      // Names carry the millisecond and a random part; still, never replace a backup.
      if (
        await lstat(this.path).then(
          () => true,
          () => false,
        )
      ) {
        throw Object.assign(new Error(`${this.path} already exists`), { code: 'EEXIST', path: this.path });
      }
      await rename(this.partialPath, this.path);
      await syncDirectory(this.hostDir);
      this.placeholder = header;
      return { path: this.path, header };
    } catch (error) {
      await this.abort();
      throw writeError(this.hostDir, error, this.position);
    } finally {
      this.releaseStages();
    }
  }

  async abort(): Promise<void> {
    this.failure ??= new Error('backup aborted');
    await this.writing.catch(() => {});
    this.releaseStages();
    if (!this.closed) {
      this.closed = true;
      await this.file.close().catch(() => {});
    }
    await unlink(this.partialPath).catch(() => {});
  }

  /**
   * Drops every staging buffer once no write is in flight: the writer outlives
   * its file (the sealed backup's closures hold it until the run ends), and its
   * stages are up to 3.25 MB a host.
   */
  private releaseStages(): void {
    this.stage = EMPTY;
    this.stageUsed = 0;
    this.batch = [];
    this.batchBytes = 0;
    this.batchStages = [];
    this.freeStages.length = 0;
  }

  /** A slice of the stage to fill with `size` bytes of record. */
  private reserve(size: number): Buffer {
    if (this.failure) throw this.failure;
    if (this.stageUsed + size > this.stage.length) {
      this.sealStage();
      if (size > this.stage.length) this.stage = Buffer.allocUnsafe(Math.max(size, STAGE_BYTES));
    }
    const slice = this.stage.subarray(this.stageUsed, this.stageUsed + size);
    this.stageUsed += size;
    this.recordBytes += size;
    return slice;
  }

  /** Moves the filled part of the stage into the batch and starts a fresh stage. */
  private sealStage(): void {
    if (this.stageUsed === 0) return;
    this.batch.push(this.stage.subarray(0, this.stageUsed));
    this.batchBytes += this.stageUsed;
    if (this.stage.length === STAGE_BYTES) this.batchStages.push(this.stage);
    // The next stage comes when a record needs it (reserve): a writer sealed now holds none.
    this.stage = this.freeStages.pop() ?? EMPTY;
    this.stageUsed = 0;
  }

  private maybeWrite(): Promise<void> | undefined {
    if (this.batchBytes < BATCH_BYTES) return undefined;
    this.queueWrite();
    // Let a few batches be written while the next fills; only then make the producer wait.
    return this.writingBytes > MAX_WRITING_BYTES ? this.writing : undefined;
  }

  private queueWrite(): void {
    if (this.batch.length === 0) return;
    const buffers = this.batch;
    const bytes = this.batchBytes;
    const stages = this.batchStages;
    this.batch = [];
    this.batchBytes = 0;
    this.batchStages = [];
    for (const buffer of buffers) this.sha256.update(buffer);
    const position = this.position;
    this.position += bytes;
    this.writingBytes += bytes;
    this.writing = this.writing.then(async () => {
      if (this.failure) return;
      let offset = 0;
      try {
        while (offset < bytes) {
          const { bytesWritten } = await this.file.writev(skip(buffers, offset), position + offset);
          if (bytesWritten <= 0) throw new Error(`short write to ${this.partialPath}`);
          offset += bytesWritten;
        }
        this.writingBytes -= bytes;
        for (const stage of stages) if (this.freeStages.length < MAX_FREE_STAGES) this.freeStages.push(stage);
      } catch (error) {
        this.failure = writeError(this.hostDir, error, position + offset);
        throw this.failure;
      }
    });
    // The failure is kept and rethrown by the next write or finish(); this only
    // keeps an unawaited batch from becoming an unhandled rejection.
    this.writing.catch(() => {});
  }
}

/** The buffers after the first `offset` bytes (after a short writev). */
function skip(buffers: Buffer[], offset: number): Buffer[] {
  if (offset === 0) return buffers;
  const rest: Buffer[] = [];
  let left = offset;
  for (const buffer of buffers) {
    if (left >= buffer.length) {
      left -= buffer.length;
      continue;
    }
    rest.push(left > 0 ? buffer.subarray(left) : buffer);
    left = 0;
  }
  return rest;
}

// A backup is written under a temporary name and renamed when sealed. The name
// says whose it is — this machine, this process — plus a random part, and is
// created exclusively: a run killed at the same second as its re-run started
// (backup names had one-second resolution) no longer collides with the file
// its predecessor left, and a later run can tell a dead writer's file from a
// live one's.
const PARTIAL = /^\..+\.([A-Za-z0-9_-]+)\.(\d+)-[0-9a-f]{8}\.partial$/;

function thisMachine(): string {
  return hostname().replace(/[^A-Za-z0-9_-]/g, '_') || '_';
}

async function createPartial(
  hostDir: string,
  name: string,
): Promise<{ file: FileHandle; partialPath: string }> {
  for (let attempt = 1; ; attempt++) {
    const partialPath = join(
      hostDir,
      `.${name}.${thisMachine()}.${process.pid}-${randomBytes(4).toString('hex')}.partial`,
    );
    try {
      const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
      return { file: await open(partialPath, flags, 0o600), partialPath };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw error;
    }
  }
}

/** Whether a process with this id runs on this machine (EPERM: it does, as another user). */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the `.partial` files of this folder whose writer is gone: written on this
 * machine, by a process that no longer runs, and the running user's own regular files.
 * A partial of a live run, of another machine, or of an older memplay (whose name
 * does not say its writer) is left alone.
 */
export async function removeStalePartials(hostDir: string): Promise<string[]> {
  const removed: string[] = [];
  const names = await readdir(hostDir).catch(() => [] as string[]);
  const machine = thisMachine();
  const uid = runningUid();
  for (const name of names) {
    const match = PARTIAL.exec(name);
    if (!match || match[1] !== machine) continue;
    const pid = Number(match[2]);
    if (pid === process.pid || processAlive(pid)) continue;
    const path = join(hostDir, name);
    const info = await lstat(path).catch(() => undefined);
    if (!info?.isFile() || (uid !== undefined && info.uid !== uid)) continue;
    await unlink(path).then(
      () => removed.push(path),
      () => {},
    );
  }
  return removed;
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
