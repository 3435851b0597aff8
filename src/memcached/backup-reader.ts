import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import {
  type BackupHeader,
  type BackupItem,
  FORMAT_VERSION,
  HEADER_SIZE,
  ITEM_FIXED_SIZE,
  KEY_MAX_BYTES,
  MAGIC_LINE,
  RECORD_ITEM,
  RECORD_SECTION,
  RECORD_TOMBSTONE,
  SECTION_DELTA,
  SECTION_FULL,
  SECTION_RECORD_SIZE,
  TOMBSTONE_RECORD_SIZE,
  TRAILER_SIZE,
  VALUE_MAX_BYTES,
} from './backup-layout.js';
import { digestIdOf, KEY_DIGEST_BYTES, keyDigestId } from './key-index.js';

// Reads memplay backups without holding them in memory: the file is read in
// 1 MiB windows and parsed record by record.

export type BackupProblem =
  | 'unreadable'
  | 'bad-magic'
  | 'unsupported-version'
  | 'bad-header'
  | 'incomplete'
  | 'truncated'
  | 'corrupt'
  | 'checksum-mismatch';

export class BackupFileError extends Error {
  override name = 'BackupFileError';
  constructor(
    readonly path: string,
    readonly problem: BackupProblem,
    readonly detail: string,
    /** The byte offset the problem was found at, when it has one. */
    readonly offset?: number,
  ) {
    super(`backup ${path}: ${detail}`);
  }
}

export type BackupVerification =
  | { readonly ok: true; readonly header: BackupHeader }
  | { readonly ok: false; readonly error: BackupFileError; readonly header?: BackupHeader };

type BackupRecord =
  | { kind: 'section'; offset: number; section: number; serverTime: number }
  | { kind: 'item'; offset: number; item: BackupItem }
  | { kind: 'tombstone'; offset: number; digestId: string };

const READ_CHUNK = 1024 * 1024;

/** Reads and checks the header block; throws BackupFileError. */
export async function readBackupHeader(path: string): Promise<{ header: BackupHeader; fileSize: number }> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    throw new BackupFileError(path, 'unreadable', (error as Error).message);
  }
  try {
    const { size } = await handle.stat();
    const block = Buffer.alloc(Math.min(size, HEADER_SIZE));
    await handle.read(block, 0, block.length, 0);
    const magicBytes = Buffer.from(MAGIC_LINE, 'latin1');
    if (!block.subarray(0, magicBytes.length).equals(magicBytes)) {
      const version = /^MEMPLAY-BACKUP (\S+)\n/.exec(block.subarray(0, 64).toString('latin1'));
      if (version) {
        throw new BackupFileError(
          path,
          'unsupported-version',
          `format version ${version[1]}; this memplay reads version ${FORMAT_VERSION}`,
        );
      }
      if (size < magicBytes.length && magicBytes.subarray(0, size).equals(block)) {
        throw new BackupFileError(path, 'truncated', `truncated at byte ${size}, inside the header`, size);
      }
      throw new BackupFileError(
        path,
        'bad-magic',
        'not a memplay backup (no MEMPLAY-BACKUP line at byte 0)',
        0,
      );
    }
    if (size < HEADER_SIZE) {
      throw new BackupFileError(path, 'truncated', `truncated at byte ${size}, inside the header`, size);
    }
    const end = block.indexOf(0x0a, magicBytes.length);
    let header: BackupHeader;
    try {
      header = JSON.parse(
        block.toString('utf8', magicBytes.length, end < 0 ? undefined : end),
      ) as BackupHeader;
    } catch {
      throw new BackupFileError(path, 'bad-header', 'the header is not valid JSON', magicBytes.length);
    }
    if (header.format !== 'memplay-backup' || header.version !== FORMAT_VERSION) {
      throw new BackupFileError(path, 'unsupported-version', `header says format version ${header.version}`);
    }
    return { header, fileSize: size };
  } finally {
    await handle.close();
  }
}

/**
 * Checks a backup end to end: magic, version, completeness, length, record
 * structure, and the sha256 of the header block and of the records.
 */
export async function verifyBackup(path: string): Promise<BackupVerification> {
  let header: BackupHeader | undefined;
  try {
    const read = await readBackupHeader(path);
    header = read.header;
    const fileSize = read.fileSize;
    if (!header.complete) {
      throw new BackupFileError(
        path,
        'incomplete',
        'the writer never finished this backup (header not final)',
      );
    }
    const recordsEnd = HEADER_SIZE + header.recordBytes;
    const expectedSize = recordsEnd + TRAILER_SIZE;
    if (fileSize < expectedSize) {
      throw new BackupFileError(
        path,
        'truncated',
        `truncated at byte ${fileSize}: header and trailer make ${expectedSize} bytes`,
        fileSize,
      );
    }
    if (fileSize > expectedSize) {
      throw new BackupFileError(
        path,
        'corrupt',
        `${fileSize - expectedSize} unexpected bytes after the trailer at byte ${expectedSize}`,
        expectedSize,
      );
    }
    const recordsHash = createHash('sha256');
    let items = 0;
    let tombstones = 0;
    let valueBytes = 0;
    for await (const record of scanRecords(path, HEADER_SIZE, recordsEnd, {
      onRaw: (raw) => recordsHash.update(raw),
      reuseBuffer: true,
    })) {
      if (record.kind === 'item') {
        items++;
        valueBytes += record.item.value.length;
      } else if (record.kind === 'tombstone') tombstones++;
    }
    const trailer = await readTrailer(path, recordsEnd);
    const recordsSha256 = recordsHash.digest('hex');
    const headerHash = createHash('sha256');
    for await (const chunk of createReadStream(path, { start: 0, end: HEADER_SIZE - 1 }))
      headerHash.update(chunk);
    const headerSha256 = headerHash.digest('hex');
    if (recordsSha256 !== trailer.recordsSha256 || recordsSha256 !== header.recordsSha256) {
      throw new BackupFileError(
        path,
        'checksum-mismatch',
        `sha256 of the records is ${recordsSha256}, the trailer says ${trailer.recordsSha256} and the header ${header.recordsSha256}`,
      );
    }
    if (headerSha256 !== trailer.headerSha256) {
      throw new BackupFileError(
        path,
        'checksum-mismatch',
        `sha256 of the header block is ${headerSha256}, the trailer says ${trailer.headerSha256}`,
        0,
      );
    }
    const mismatch = [
      ['items', items, trailer.items, header.items],
      ['tombstones', tombstones, trailer.tombstones, header.tombstones],
      ['value bytes', valueBytes, trailer.valueBytes, header.valueBytes],
      ['record bytes', header.recordBytes, trailer.recordBytes, header.recordBytes],
    ].find(([, counted, inTrailer, inHeader]) => counted !== inTrailer || counted !== inHeader);
    if (mismatch) {
      const [what, counted, inTrailer, inHeader] = mismatch;
      throw new BackupFileError(
        path,
        'corrupt',
        `${what}: counted ${counted}, trailer says ${inTrailer}, header says ${inHeader}`,
      );
    }
    return { ok: true, header };
  } catch (error) {
    if (!(error instanceof BackupFileError)) {
      return { ok: false, error: new BackupFileError(path, 'unreadable', (error as Error).message), header };
    }
    return header ? { ok: false, error, header } : { ok: false, error };
  }
}

/**
 * The items of a backup in their final state: the full pass's items except
 * those the delta pass updated or deleted, then the delta pass's items (the
 * last one per key). Only the delta's key digests are held in memory.
 * Does not check checksums: call verifyBackup first.
 */
export async function* readBackupItems(path: string): AsyncGenerator<BackupItem> {
  const { header } = await readBackupHeader(path);
  if (!header.complete) {
    throw new BackupFileError(path, 'incomplete', 'the writer never finished this backup (header not final)');
  }
  const recordsEnd = HEADER_SIZE + header.recordBytes;
  const deltaStart = header.deltaOffset ?? recordsEnd;
  // Digest → ordinal of its last record in the delta section.
  const lastInDelta = new Map<string, number>();
  let ordinal = 0;
  for await (const record of scanRecords(path, deltaStart, recordsEnd)) {
    if (record.kind === 'item') lastInDelta.set(keyDigestId(record.item.key), ordinal);
    else if (record.kind === 'tombstone') lastInDelta.set(record.digestId, ordinal);
    ordinal++;
  }
  for await (const record of scanRecords(path, HEADER_SIZE, deltaStart)) {
    if (record.kind !== 'item') continue;
    if (lastInDelta.size > 0 && lastInDelta.has(keyDigestId(record.item.key))) continue;
    yield record.item;
  }
  if (lastInDelta.size === 0) return;
  ordinal = 0;
  for await (const record of scanRecords(path, deltaStart, recordsEnd)) {
    if (record.kind === 'item' && lastInDelta.get(keyDigestId(record.item.key)) === ordinal)
      yield record.item;
    ordinal++;
  }
}

async function readTrailer(path: string, at: number) {
  const handle = await open(path, 'r');
  try {
    const trailer = Buffer.alloc(TRAILER_SIZE);
    const { bytesRead } = await handle.read(trailer, 0, TRAILER_SIZE, at);
    if (bytesRead < TRAILER_SIZE) {
      throw new BackupFileError(path, 'truncated', `truncated at byte ${at + bytesRead}, inside the trailer`);
    }
    if (trailer[0] !== 0x45) {
      throw new BackupFileError(
        path,
        'corrupt',
        `no trailer at byte ${at} (records end there per header)`,
        at,
      );
    }
    return {
      items: Number(trailer.readBigUInt64BE(1)),
      tombstones: Number(trailer.readBigUInt64BE(9)),
      valueBytes: Number(trailer.readBigUInt64BE(17)),
      recordBytes: Number(trailer.readBigUInt64BE(25)),
      recordsSha256: trailer.toString('hex', 33, 65),
      headerSha256: trailer.toString('hex', 65, 97),
    };
  } finally {
    await handle.close();
  }
}

/**
 * Bytes [start, end) of a file, read in order into one buffer. A refill moves
 * the unread rest to the front and reads behind it. With `reuse`, the same
 * buffer is filled again, so what was handed out before the refill is
 * overwritten: for readers that are done with a record before asking for the
 * next (verification hashes 1 GB without allocating 2 GB of chunks the GC then
 * has to find; measured, those chunks were the controller's peak RSS). Without
 * it each refill gets a fresh buffer and records stay valid.
 */
class FileWindow {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;
  /** Valid bytes in buf. */
  len = 0;
  /** File offset of buf[0]. */
  base: number;
  private nextRead: number;

  constructor(
    private readonly handle: FileHandle,
    start: number,
    private readonly end: number,
    private readonly reuse: boolean,
  ) {
    this.base = start;
    this.nextRead = start;
  }

  /** Without reuse: the next chunk, read while the records before it are parsed. */
  private ahead: Promise<Buffer> | undefined;

  /** Makes at least `bytes` unread bytes available; false if the range (or the file) ends first. */
  fill(bytes: number): Promise<boolean> {
    return this.reuse ? this.fillInPlace(bytes) : this.fillAhead(bytes);
  }

  private readChunk(): Promise<Buffer> | undefined {
    if (this.nextRead >= this.end) return undefined;
    const at = this.nextRead;
    const length = Math.min(READ_CHUNK, this.end - at);
    this.nextRead += length;
    const chunk = Buffer.allocUnsafe(length);
    const read = this.handle.read(chunk, 0, length, at).then(({ bytesRead }) => chunk.subarray(0, bytesRead));
    // A scan that stops early leaves this read behind: its failure is nobody's to report.
    read.catch(() => {});
    return read;
  }

  /**
   * Restore's path: each refill takes the chunk already read and starts the
   * next, so the disk works while records are parsed and sent (reading on
   * demand cost a third of restore's throughput, measured).
   */
  private async fillAhead(bytes: number): Promise<boolean> {
    while (this.len - this.pos < bytes) {
      const pending = this.ahead ?? this.readChunk();
      if (!pending) return false;
      const chunk = await pending;
      this.ahead = chunk.length > 0 ? this.readChunk() : undefined;
      if (chunk.length === 0) return false;
      const rest = this.len - this.pos;
      this.base += this.pos;
      this.buf = rest > 0 ? Buffer.concat([this.buf.subarray(this.pos, this.len), chunk]) : chunk;
      this.pos = 0;
      this.len = this.buf.length;
    }
    return true;
  }

  private async fillInPlace(bytes: number): Promise<boolean> {
    while (this.len - this.pos < bytes) {
      if (this.nextRead >= this.end) return false;
      const rest = this.len - this.pos;
      const capacity = Math.max(READ_CHUNK, bytes);
      if (this.reuse && this.buf.length >= capacity) {
        this.buf.copyWithin(0, this.pos, this.len);
      } else {
        const fresh = Buffer.allocUnsafe(capacity);
        this.buf.copy(fresh, 0, this.pos, this.len);
        this.buf = fresh;
      }
      this.base += this.pos;
      this.pos = 0;
      this.len = rest;
      const want = Math.min(this.buf.length - rest, this.end - this.nextRead);
      const { bytesRead } = await this.handle.read(this.buf, rest, want, this.nextRead);
      if (bytesRead === 0) return false;
      this.len += bytesRead;
      this.nextRead += bytesRead;
    }
    return true;
  }
}

/**
 * Parses the records in [start, end) as the file streams in; `onRaw` sees every record's bytes.
 * One generator, and an await only when the window runs dry: restore pulls 100k records
 * through here, and every extra async layer or settled-promise await per record showed
 * up as CPU in the restore's profile.
 */
async function* scanRecords(
  path: string,
  start: number,
  end: number,
  options: { onRaw?: (raw: Buffer) => void; reuseBuffer?: boolean } = {},
): AsyncGenerator<BackupRecord> {
  if (end <= start) return;
  const handle = await open(path, 'r');
  try {
    const window = new FileWindow(handle, start, end, options.reuseBuffer ?? false);
    const { onRaw } = options;
    let buf = window.buf;
    let pos = window.pos;
    /** Makes `bytes` of the record at `recordOffset` readable at buf[pos…] (a refill moves them). */
    const ensure = async (bytes: number, recordOffset: number, what: string): Promise<void> => {
      const ready = await window.fill(bytes);
      buf = window.buf;
      pos = window.pos;
      if (ready) return;
      const reached = window.base + window.len;
      throw new BackupFileError(
        path,
        reached >= end ? 'corrupt' : 'truncated',
        `the ${what} at byte ${recordOffset} runs past byte ${reached}` +
          (reached >= end ? ', where the records end per header' : ''),
        recordOffset,
      );
    };
    for (;;) {
      if (window.len - window.pos < 1 && !(await window.fill(1))) return;
      buf = window.buf;
      pos = window.pos;
      const offset = window.base + pos;
      const type = buf[pos] as number;
      let size: number;
      let record: BackupRecord;
      if (type === RECORD_ITEM) {
        if (window.len - pos < ITEM_FIXED_SIZE) await ensure(ITEM_FIXED_SIZE, offset, 'item record');
        const keyLength = buf.readUInt16BE(pos + 1);
        const valueLength = buf.readUInt32BE(pos + 23);
        if (keyLength === 0 || keyLength > KEY_MAX_BYTES || valueLength > VALUE_MAX_BYTES) {
          throw new BackupFileError(
            path,
            'corrupt',
            `item record at byte ${offset} has key length ${keyLength}, value length ${valueLength}`,
            offset,
          );
        }
        size = ITEM_FIXED_SIZE + keyLength + valueLength;
        if (window.len - pos < size) await ensure(size, offset, 'item record');
        const keyStart = pos + ITEM_FIXED_SIZE;
        record = {
          kind: 'item',
          offset,
          item: {
            key: buf.subarray(keyStart, keyStart + keyLength),
            value: buf.subarray(keyStart + keyLength, keyStart + keyLength + valueLength),
            flags: buf.readUInt32BE(pos + 3),
            exptime: Number(buf.readBigInt64BE(pos + 7)),
            cas: Number(buf.readBigUInt64BE(pos + 15)),
          },
        };
      } else if (type === RECORD_TOMBSTONE) {
        size = TOMBSTONE_RECORD_SIZE;
        if (window.len - pos < size) await ensure(size, offset, 'tombstone record');
        record = {
          kind: 'tombstone',
          offset,
          digestId: digestIdOf(buf.subarray(pos + 1, pos + 1 + KEY_DIGEST_BYTES)),
        };
      } else if (type === RECORD_SECTION) {
        size = SECTION_RECORD_SIZE;
        if (window.len - pos < size) await ensure(size, offset, 'section record');
        const section = buf[pos + 1] as number;
        if (section !== SECTION_FULL && section !== SECTION_DELTA) {
          throw new BackupFileError(path, 'corrupt', `unknown section ${section} at byte ${offset}`, offset);
        }
        record = { kind: 'section', offset, section, serverTime: Number(buf.readBigInt64BE(pos + 2)) };
      } else {
        throw new BackupFileError(
          path,
          'corrupt',
          `unknown record type 0x${type.toString(16).padStart(2, '0')} at byte ${offset}`,
          offset,
        );
      }
      onRaw?.(buf.subarray(pos, pos + size));
      window.pos = pos + size;
      yield record;
    }
  } finally {
    await handle.close();
  }
}
