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

function parseInteger(text: string, line: string): number {
  const value = Number(text);
  if (text === '' || !Number.isInteger(value)) throw new MetadumpError('protocol', line, 0);
  return value;
}

/** Parses one entry line (without its LF). */
export function parseMetadumpLine(line: string): MetadumpEntry {
  let key: Buffer | undefined;
  let exptime = 0;
  let lastAccess = 0;
  let cas = 0;
  let fetched = false;
  let slabClass = 0;
  let size = 0;
  let flags: number | undefined;
  for (const field of line.split(' ')) {
    const eq = field.indexOf('=');
    if (eq < 0) continue;
    const name = field.slice(0, eq);
    const value = field.slice(eq + 1);
    switch (name) {
      case 'key':
        key = decodeMetadumpKey(value);
        break;
      case 'exp': {
        const exp = parseInteger(value, line);
        exptime = Math.max(exp, 0);
        break;
      }
      case 'la':
        lastAccess = parseInteger(value, line);
        break;
      case 'cas':
        cas = parseInteger(value, line);
        break;
      case 'fetch':
        fetched = value === 'yes';
        break;
      case 'cls':
        slabClass = parseInteger(value, line);
        break;
      case 'size':
        size = parseInteger(value, line);
        break;
      case 'flags':
        flags = parseInteger(value, line);
        break;
    }
  }
  if (!key || key.length === 0) throw new MetadumpError('protocol', line, 0);
  return { key, exptime, lastAccess, cas, fetched, slabClass, size, flags };
}

function refusalOf(line: string): MetadumpRefusal {
  if (line.startsWith('BUSY')) return 'busy';
  if (line.startsWith('BADCLASS')) return 'unsupported-mode';
  if (line.startsWith('ERROR locked')) return 'interrupted';
  if (line.startsWith('CLIENT_ERROR') || line.startsWith('ERROR')) return 'disabled';
  return 'protocol';
}

/**
 * Parses a metadump reply as it streams in. Yields entries; returns the entry
 * count at END; throws MetadumpError on a refusal. Consuming slowly slows the
 * socket (async iteration applies backpressure), so memory stays bounded.
 */
export async function* parseMetadump(
  chunks: AsyncIterable<Buffer | string>,
): AsyncGenerator<MetadumpEntry, number> {
  let pending = '';
  let count = 0;
  for await (const chunk of chunks) {
    pending += typeof chunk === 'string' ? chunk : chunk.toString('latin1');
    let start = 0;
    for (;;) {
      const end = pending.indexOf('\n', start);
      if (end < 0) break;
      const line =
        pending.charCodeAt(end - 1) === 13 ? pending.slice(start, end - 1) : pending.slice(start, end);
      start = end + 1;
      if (line.startsWith('key=')) {
        count++;
        yield parseMetadumpLine(line);
        continue;
      }
      if (line === 'END') return count;
      // Nothing in this cache (every class empty): an empty dump, not a failure.
      if (line.startsWith('NOTSTARTED')) return count;
      throw new MetadumpError(refusalOf(line), line, count);
    }
    pending = pending.slice(start);
  }
  throw new MetadumpError('interrupted', 'connection closed before END', count);
}
