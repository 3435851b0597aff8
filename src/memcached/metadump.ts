import { decodeMetadumpKey } from './key-encoding.js';

// `lru_crawler metadump <mode>` streams one line per live item:
//   key=<percent-encoded> exp=<-1|unix> la=<unix> cas=<n> fetch=<yes|no> cls=<n> size=<n> [flags=<n>]
// (1.6.38 added flags=; unknown fields are ignored), LF-terminated, then `END\r\n`.
// Refusals come as one line instead: BUSY (another crawl runs), BADCLASS (the mode
// is not understood: `hash` on servers that predate it), NOTSTARTED (nothing to crawl),
// ERROR/CLIENT_ERROR (dump disabled). `ERROR locked try again later` may also end a
// dump that already produced entries.

export type MetadumpMode = 'hash' | 'all';

export interface MetadumpEntry {
  readonly key: Buffer;
  /** Absolute unix seconds on the server's clock; 0 = never expires. */
  readonly exptime: number;
  readonly lastAccess: number;
  /** cas is a u64 counter; as a number it is exact up to 2^53 sets, far beyond any server's life. */
  readonly cas: number;
  readonly fetched: boolean;
  readonly slabClass: number;
  /** Total item size in memory (header + key + value); bounds the value length. */
  readonly size: number;
  /** Client flags, when the server prints them (1.6.38+). */
  readonly flags: number | undefined;
}

export type MetadumpRefusal = 'busy' | 'unsupported-mode' | 'disabled' | 'interrupted' | 'protocol';

/** The server refused or cut a metadump; `retryable` says whether trying again later can help. */
export class MetadumpError extends Error {
  override name = 'MetadumpError';
  constructor(
    readonly refusal: MetadumpRefusal,
    readonly serverLine: string,
    /** Entries already produced before the refusal. */
    readonly entriesBefore: number,
  ) {
    super(`lru_crawler metadump: ${serverLine}`);
  }

  get retryable(): boolean {
    return this.refusal === 'busy' || this.refusal === 'interrupted';
  }
}

/** Parses one entry line (without its LF). */
export function parseMetadumpLine(line: string): MetadumpEntry {
  const buf = Buffer.from(line, 'latin1');
  const entry = line.startsWith('key=') ? parseEntryBytes(buf, 0, buf.length) : undefined;
  if (!entry) throw new MetadumpError('protocol', line, 0);
  return entry;
}

function refusalOf(line: string): MetadumpRefusal {
  if (line.startsWith('BUSY')) return 'busy';
  if (line.startsWith('BADCLASS')) return 'unsupported-mode';
  if (line.startsWith('ERROR locked')) return 'interrupted';
  if (line.startsWith('CLIENT_ERROR') || line.startsWith('ERROR')) return 'disabled';
  return 'protocol';
}

const SPACE = 0x20;
const EQUALS = 0x3d;

/** Decimal (optionally negative) in buf[start, end); NaN if not a number. */
function readInteger(buf: Buffer, start: number, end: number): number {
  let i = start;
  let sign = 1;
  if (buf[i] === 0x2d) {
    sign = -1;
    i++;
  }
  if (i >= end) return Number.NaN;
  let value = 0;
  for (; i < end; i++) {
    const digit = (buf[i] as number) - 0x30;
    if (digit < 0 || digit > 9) return Number.NaN;
    value = value * 10 + digit;
  }
  return sign * value;
}

/**
 * Parses one entry line in buf[start, end) straight from the bytes: 100k
 * lines a second more than going through strings, and the key is
 * percent-decoded into its own Buffer in one pass.
 */
function parseEntryBytes(buf: Buffer, start: number, end: number): MetadumpEntry | undefined {
  // "key=" has been checked by the caller.
  let i = start + 4;
  let keyEnd = buf.indexOf(SPACE, i);
  if (keyEnd < 0 || keyEnd > end) keyEnd = end;
  let key: Buffer;
  try {
    key = decodeMetadumpKey(buf.subarray(i, keyEnd));
  } catch {
    return undefined;
  }
  if (key.length === 0) return undefined;
  let exptime = 0;
  let lastAccess = 0;
  let cas = 0;
  let fetched = false;
  let slabClass = 0;
  let size = 0;
  let flags: number | undefined;
  i = keyEnd + 1;
  while (i < end) {
    let fieldEnd = buf.indexOf(SPACE, i);
    if (fieldEnd < 0 || fieldEnd > end) fieldEnd = end;
    const eq = buf.indexOf(EQUALS, i);
    if (eq > i && eq < fieldEnd) {
      // Dispatch on the name's bytes, not a decoded string: this runs for every field of every item.
      const first = buf[i] as number;
      const second = buf[i + 1] as number;
      const nameLength = eq - i;
      if (first === 0x66 && second === 0x65)
        fetched = buf[eq + 1] === 0x79; // fetch=yes
      else {
        const value = readInteger(buf, eq + 1, fieldEnd);
        if (first === 0x65 && nameLength === 3)
          exptime = Math.max(value, 0); // exp
        else if (first === 0x6c && nameLength === 2)
          lastAccess = value; // la
        else if (first === 0x63 && second === 0x61)
          cas = value; // cas
        else if (first === 0x63 && second === 0x6c)
          slabClass = value; // cls
        else if (first === 0x73 && nameLength === 4)
          size = value; // size
        else if (first === 0x66 && second === 0x6c)
          flags = value; // flags
        else {
          // A field this memplay does not know (newer servers add some): ignored.
          i = fieldEnd + 1;
          continue;
        }
        if (Number.isNaN(value)) return undefined;
      }
    }
    i = fieldEnd + 1;
  }
  return {
    key,
    exptime,
    lastAccess,
    cas,
    fetched,
    slabClass,
    size,
    flags,
  };
}

const KEY_PREFIX = Buffer.from('key=', 'latin1');

/**
 * Parses a metadump reply as it streams in. Yields entries in batches (one
 * per chunk received, to keep per-entry overhead off the hot path); returns
 * the entry count at END; throws MetadumpError on a refusal.
 */
export async function* parseMetadumpBatches(
  chunks: AsyncIterable<Buffer>,
): AsyncGenerator<MetadumpEntry[], number> {
  let pending: Buffer | undefined;
  let count = 0;
  for await (const chunk of chunks) {
    const buf = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = undefined;
    const batch: MetadumpEntry[] = [];
    let start = 0;
    for (;;) {
      const lf = buf.indexOf(0x0a, start);
      if (lf < 0) break;
      const end = buf[lf - 1] === 0x0d ? lf - 1 : lf;
      const lineStart = start;
      start = lf + 1;
      if (buf.compare(KEY_PREFIX, 0, 4, lineStart, lineStart + 4) === 0) {
        const entry = parseEntryBytes(buf, lineStart, end);
        if (!entry) throw new MetadumpError('protocol', buf.toString('latin1', lineStart, end), count);
        batch.push(entry);
        count++;
        continue;
      }
      const line = buf.toString('latin1', lineStart, end);
      // 1.6.45 (measured) acknowledges the command with OK before the first entry.
      if (line === 'OK' && count === 0) continue;
      if (batch.length > 0) yield batch.splice(0);
      if (line === 'END') return count;
      // Nothing in this cache (every class empty): an empty dump, not a failure.
      if (line.startsWith('NOTSTARTED')) return count;
      throw new MetadumpError(refusalOf(line), line, count);
    }
    if (start < buf.length) pending = buf.subarray(start);
    if (batch.length > 0) yield batch;
  }
  throw new MetadumpError('interrupted', 'connection closed before END', count);
}

/** parseMetadumpBatches, one entry at a time. */
export async function* parseMetadump(chunks: AsyncIterable<Buffer>): AsyncGenerator<MetadumpEntry, number> {
  const batches = parseMetadumpBatches(chunks);
  for (;;) {
    const step = await batches.next();
    if (step.done) return step.value;
    yield* step.value;
  }
}
