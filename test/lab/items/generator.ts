import { createCipheriv, createHash } from 'node:crypto';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import type { Duplex } from 'node:stream';

// An adversarial item set for a memcached instance, and an independent dump to
// compare two instances item for item. Deliberately shares no code with
// src/memcached/: a bug in memplay's protocol client must not hide in its test
// harness too. Only Node built-ins, so the lab builds while src/ is mid-change.

export type StreamFactory = () => Promise<Duplex>;

export type KeyKind = 'plain' | 'punctuation' | 'utf8' | 'max-length' | 'high-bytes' | 'base64-spaces';
const KINDS: KeyKind[] = ['plain', 'punctuation', 'utf8', 'max-length', 'high-bytes', 'base64-spaces'];

export interface GenerateOptions {
  readonly seed: number;
  readonly count: number;
  /** Target total of value bytes. */
  readonly totalBytes: number;
  /** Items that expire `shortTtlSeconds` after they are written. Default 0. */
  readonly expiringSoon?: number;
  readonly shortTtlSeconds?: number;
  /**
   * How items are written. `meta` (default): `ms`, binary keys as base64 (1.6.10+).
   * `text`: classic `set` for keys the text protocol carries and the binary
   * protocol's SETQ for the rest, as clients of 1.4/1.5 write them.
   */
  readonly protocol?: 'meta' | 'text';
}

export interface GeneratedSet {
  readonly count: number;
  readonly valueBytes: number;
  readonly byKind: Record<KeyKind, number>;
  /** Keys (hex) of the items that expire within shortTtlSeconds. */
  readonly expiringSoon: string[];
  /** One 250-byte key sent raw, one 186-byte key with spaces sent as base64 (the longest that can be). */
  readonly longestRawKey: Buffer;
  readonly longestBase64Key: Buffer;
  /** Keys (hex) of items whose value is exactly the largest the server accepts. */
  readonly atItemSizeMax: string[];
  readonly itemSizeMax: number;
  /** Server unix time when writing started. */
  readonly serverTime: number;
  /** `text` mode: keys (hex) with a space or control byte, written through the binary protocol. */
  readonly binaryWritten: string[];
}

export interface ItemDigest {
  readonly flags: number;
  readonly valueLength: number;
  readonly valueSha256: string;
  /** Absolute unix seconds on the server clock; 0 = never. */
  readonly exptime: number;
}

const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
/** Server overhead per item at item_size_max (measured on 1.6.18 and 1.6.38, flags ≠ 0). */
const ITEM_OVERHEAD = 63;
const FLAG_SAMPLES = [0, 4294967295, 2147483648, 1];

/** xorshift32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let state = seed >>> 0 || 0x9e3779b9;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 4294967296;
  };
}

/** Deterministic value bytes: an AES-CTR keystream from the seed. */
function byteStream(seed: number): (length: number) => Buffer {
  const key = createHash('sha256').update(`memplay-items-${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  return (length) => cipher.update(Buffer.alloc(length));
}

function makeKey(
  kind: KeyKind,
  seed: number,
  i: number,
  random: () => number,
  bytes: (n: number) => Buffer,
): Buffer {
  switch (kind) {
    case 'plain':
      return Buffer.from(`k${seed}:${i}`);
    case 'punctuation':
      return Buffer.from(`p${seed}-${i}-${PUNCTUATION}`);
    case 'utf8':
      return Buffer.from(`u${seed}-${i}-ключ-日本語-€-😀`);
    case 'max-length': {
      const head = Buffer.from(`m${seed}-${i}-`);
      return Buffer.concat([head, Buffer.alloc(250 - head.length, 0x61 + (i % 26))]);
    }
    case 'high-bytes': {
      // Bytes ≥ 0x80, not valid UTF-8: sent raw, must come back byte for byte.
      const head = Buffer.from(`h${seed}-${i}-`);
      const tail = bytes(1 + Math.floor(random() * 100)).map((b) => 0x80 | b);
      return Buffer.concat([head, tail]);
    }
    case 'base64-spaces': {
      // Spaces, CR, LF, NUL: only sendable base64-encoded, so at most 186 bytes.
      const head = Buffer.from(`b ${seed} ${i}\r\n\0 `, 'latin1');
      const length = i % 10 === 3 ? 186 : head.length + Math.floor(random() * (186 - head.length));
      const tail = bytes(length - head.length);
      return Buffer.concat([head, tail]);
    }
  }
}

function isRawSafe(key: Buffer): boolean {
  return key.every((b) => b > 0x20 && b !== 0x7f);
}

/** Value bytes with protocol look-alikes planted in them. */
function plantTraps(value: Buffer, i: number): Buffer {
  const traps = ['\r\n', 'END\r\n', '\r\nVA 5 f1\r\n', '\0\0', 'MN\r\n', '\n', '\r'];
  const trap = Buffer.from(traps[i % traps.length] as string, 'latin1');
  if (value.length >= trap.length) {
    trap.copy(value, 0);
    trap.copy(value, value.length - trap.length);
    trap.copy(value, Math.floor(value.length / 2));
  }
  return value;
}

/** A connection with a line reader; enough for this harness. */
class Wire {
  private buffered: Buffer = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  private failure: Error | undefined;

  constructor(readonly stream: Duplex) {
    stream.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
      this.waiting?.();
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      this.waiting?.();
    };
    stream.on('error', fail);
    stream.on('close', () => fail(new Error('memcached closed the connection')));
  }

  async bytes(length: number): Promise<Buffer> {
    while (this.buffered.length < length) {
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
      });
    }
    const out = this.buffered.subarray(0, length);
    this.buffered = this.buffered.subarray(length);
    return out;
  }

  async line(): Promise<string> {
    for (;;) {
      const end = this.buffered.indexOf('\r\n');
      if (end >= 0) {
        const line = this.buffered.toString('latin1', 0, end);
        this.buffered = this.buffered.subarray(end + 2);
        return line;
      }
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
      });
    }
  }

  async write(data: Buffer | string): Promise<void> {
    if (!this.stream.write(data)) await once(this.stream, 'drain');
  }

  async stats(group = ''): Promise<Map<string, string>> {
    await this.write(group ? `stats ${group}\r\n` : 'stats\r\n');
    const stats = new Map<string, string>();
    for (;;) {
      const line = await this.line();
      if (line === 'END') return stats;
      const [, name, value] = line.split(' ');
      stats.set(name ?? '', value ?? '');
    }
  }

  close(): void {
    this.stream.destroy();
  }
}

/**
 * Writes `count` items of every adversarial kind through pipelined quiet `ms`.
 * Throws on the first error the server reports.
 */
/** A binary-protocol SETQ (quiet: only a failure answers). */
function binarySetQ(key: Buffer, value: Buffer, flags: number, ttl: number): Buffer {
  const header = Buffer.alloc(24 + 8);
  header[0] = 0x80;
  header[1] = 0x11;
  header.writeUInt16BE(key.length, 2);
  header[4] = 8;
  header.writeUInt32BE(8 + key.length + value.length, 8);
  header.writeUInt32BE(flags >>> 0, 24);
  header.writeUInt32BE(ttl >>> 0, 28);
  return Buffer.concat([header, key, value]);
}

export async function generateItems(factory: StreamFactory, options: GenerateOptions): Promise<GeneratedSet> {
  const wire = new Wire(await factory());
  const text = options.protocol === 'text';
  const binary = text ? new Wire(await factory()) : undefined;
  let textReplies = 0;
  const binaryWritten: string[] = [];
  try {
    const itemSizeMax = Number((await wire.stats('settings')).get('item_size_max'));
    const serverTime = Number((await wire.stats()).get('time'));
    const random = prng(options.seed);
    const bytes = byteStream(options.seed);
    const count = options.count;
    const large = new Set<number>();
    const medium = new Set<number>();
    const nLarge = Math.max(2, Math.round(count * 0.0002));
    while (large.size < Math.min(nLarge, count)) large.add(Math.floor(random() * count));
    while (medium.size < Math.min(Math.round(count * 0.01), count - large.size)) {
      const i = Math.floor(random() * count);
      if (!large.has(i)) medium.add(i);
    }
    const largeBytes = nLarge * itemSizeMax * 0.75;
    const mediumBytes = medium.size * 68 * 1024;
    const smallCount = Math.max(1, count - large.size - medium.size);
    const smallAverage = Math.max(0, (options.totalBytes - largeBytes - mediumBytes) / smallCount);
    const expiringSoon = Math.min(options.expiringSoon ?? 0, count);
    const shortTtl = options.shortTtlSeconds ?? 2;

    const byKind = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<KeyKind, number>;
    const expiring: string[] = [];
    const atMax: string[] = [];
    let longestRawKey: Buffer = Buffer.alloc(0);
    let longestBase64Key: Buffer = Buffer.alloc(0);
    let valueBytes = 0;
    let largeSeen = 0;
    for (let i = 0; i < count; i++) {
      const kind = KINDS[i % KINDS.length] as KeyKind;
      const key = makeKey(kind, options.seed, i, random, bytes);
      byKind[kind]++;
      if (kind === 'max-length') longestRawKey = key;
      if (kind === 'base64-spaces' && key.length === 186) longestBase64Key = key;
      let size: number;
      if (large.has(i)) {
        const max = itemSizeMax - key.length - ITEM_OVERHEAD;
        size = largeSeen++ % 2 === 0 ? max : Math.floor(max * (0.5 + random() * 0.45));
        if (size === max) atMax.push(key.toString('hex'));
      } else if (medium.has(i)) size = 8 * 1024 + Math.floor(random() * 120 * 1024);
      else if (i % 97 === 0) size = 0;
      else size = Math.floor(random() * 2 * smallAverage);
      const value = plantTraps(bytes(size), i);
      const flags =
        i % 2 === 0
          ? (FLAG_SAMPLES[(i / 2) % FLAG_SAMPLES.length] as number)
          : Math.floor(random() * 2 ** 32);
      let ttl: number;
      if (
        i % Math.max(1, Math.floor(count / Math.max(1, expiringSoon))) === 0 &&
        expiring.length < expiringSoon
      ) {
        ttl = shortTtl;
        expiring.push(key.toString('hex'));
      } else {
        const pick = random();
        // Beyond 30 days memcached reads T as an absolute unix time.
        ttl = pick < 0.4 ? 0 : pick < 0.7 ? 3600 : pick < 0.85 ? serverTime + 60 * 86400 : 7 * 86400;
      }
      const raw = isRawSafe(key);
      valueBytes += size;
      if (text && binary) {
        if (raw) {
          await wire.write(
            Buffer.from(`set ${key.toString('latin1')} ${flags >>> 0} ${ttl} ${size}\r\n`, 'latin1'),
          );
          await wire.write(value);
          await wire.write('\r\n');
          textReplies++;
        } else {
          await binary.write(binarySetQ(key, value, flags, ttl));
          binaryWritten.push(key.toString('hex'));
        }
        continue;
      }
      const token = raw ? key.toString('latin1') : key.toString('base64');
      await wire.write(
        Buffer.from(`ms ${token} ${size}${raw ? '' : ' b'} F${flags} T${ttl} q\r\n`, 'latin1'),
      );
      await wire.write(value);
      await wire.write('\r\n');
    }
    if (text && binary) {
      for (let n = 0; n < textReplies; n++) {
        const reply = await wire.line();
        if (reply !== 'STORED') throw new Error(`generateItems: set answered ${reply}`);
      }
      // NOOP answers once every SETQ before it is done; a failed SETQ answers on its own first.
      await binary.write(Buffer.from([0x80, 0x0a, ...new Array(22).fill(0)]));
      const answer = await binary.bytes(24);
      if (answer[1] !== 0x0a)
        throw new Error(`generateItems: binary SETQ failed, status ${answer.readUInt16BE(6)}`);
    } else {
      await wire.write('mn\r\n');
      const reply = await wire.line();
      if (reply !== 'MN') throw new Error(`generateItems: memcached replied ${reply}`);
    }
    return {
      count,
      valueBytes,
      byKind,
      expiringSoon: expiring,
      longestRawKey,
      longestBase64Key,
      atItemSizeMax: atMax,
      itemSizeMax,
      serverTime,
      binaryWritten,
    };
  } finally {
    wire.close();
    binary?.close();
  }
}

function percentDecode(text: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '%') {
      out.push(Number.parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(text.charCodeAt(i));
  }
  return Buffer.from(out);
}

/** Every live key through `lru_crawler metadump all`, percent-decoded to bytes. */
async function listKeysOnce(factory: StreamFactory, mode: 'hash' | 'all'): Promise<Buffer[] | null> {
  for (let attempt = 0; ; attempt++) {
    const wire = new Wire(await factory());
    try {
      await wire.write(`lru_crawler metadump ${mode}\r\n`);
      // Entries end in LF only and the reply in CRLF: the whole reply is one "line".
      // 1.6.45 (measured) sends an OK line first.
      let reply = await wire.line();
      if (reply === 'OK') reply = await wire.line();
      const parts = reply.split('\n');
      const last = parts.pop() ?? '';
      if (last.startsWith('BUSY') && attempt < 100) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      if (last.startsWith('NOTSTARTED')) return [];
      if (last !== 'END') {
        if (mode === 'hash') return null; // an older server without hash mode
        throw new Error(`metadump: ${last}`);
      }
      return parts.map((part) => percentDecode(part.slice(4, part.indexOf(' '))));
    } finally {
      wire.close();
    }
  }
}

/**
 * Every key, as the union of a `hash` and an `all` metadump: `all` walks the LRUs
 * and can miss an item the LRU moves under it (seen: 1 in 100k), so neither
 * listing alone is trusted to be complete.
 */
async function listKeys(factory: StreamFactory): Promise<Buffer[]> {
  const keys = new Map<string, Buffer>();
  for (const mode of ['hash', 'all'] as const) {
    for (const key of (await listKeysOnce(factory, mode)) ?? []) keys.set(key.toString('hex'), key);
  }
  return [...keys.values()];
}

/**
 * An independent dump of an instance: key (hex) → flags, value sha256, absolute
 * exptime. Read with pipelined `mg` in batches closed by `mn`.
 */
export async function digestItems(factory: StreamFactory): Promise<Map<string, ItemDigest>> {
  const keys = await listKeys(factory);
  const wire = new Wire(await factory());
  const digests = new Map<string, ItemDigest>();
  const pending: [Buffer, number][] = [];
  try {
    // Small batches with the server clock read on both sides: `t` is measured somewhere
    // inside the batch, so its absolute expiry is known to within half the batch's duration.
    for (let start = 0; start < keys.length; start += 100) {
      const batch = keys.slice(start, start + 100);
      const before = Number((await wire.stats()).get('time'));
      let requests = '';
      for (const key of batch) {
        requests += isRawSafe(key)
          ? `mg ${key.toString('latin1')} v f t\r\n`
          : `mg ${key.toString('base64')} b v f t\r\n`;
      }
      await wire.write(Buffer.from(`${requests}mn\r\n`, 'latin1'));
      let next = 0;
      for (;;) {
        const line = await wire.line();
        if (line === 'MN') break;
        const key = batch[next++];
        if (!key) throw new Error(`digestItems: more replies than requests: ${line}`);
        if (line === 'EN') continue;
        const [tag, length, ...flags] = line.split(' ');
        if (tag !== 'VA') throw new Error(`digestItems: mg ${key.toString('hex')}: ${line}`);
        const data = await wire.bytes(Number(length) + 2);
        const field = (name: string) => Number(flags.find((f) => f.startsWith(name))?.slice(1));
        const ttl = field('t');
        pending.push([key, ttl]);
        digests.set(key.toString('hex'), {
          flags: field('f'),
          valueLength: Number(length),
          valueSha256: createHash('sha256')
            .update(data.subarray(0, data.length - 2))
            .digest('hex'),
          exptime: ttl,
        });
      }
      const after = Number((await wire.stats()).get('time'));
      const now = Math.round((before + after) / 2);
      for (const [key, ttl] of pending.splice(0)) {
        const digest = digests.get(key.toString('hex')) as ItemDigest;
        digests.set(key.toString('hex'), { ...digest, exptime: ttl < 0 ? 0 : now + ttl });
      }
    }
    return digests;
  } finally {
    wire.close();
  }
}

/** Differences between two digests, one readable line each (empty when they match). */
export function compareDigests(
  expected: ReadonlyMap<string, ItemDigest>,
  actual: ReadonlyMap<string, ItemDigest>,
  ttlToleranceSeconds = 2,
): string[] {
  const differences: string[] = [];
  for (const [key, want] of expected) {
    const got = actual.get(key);
    if (!got) differences.push(`${key}: missing`);
    else if (got.valueSha256 !== want.valueSha256 || got.valueLength !== want.valueLength) {
      differences.push(
        `${key}: value ${got.valueLength} bytes ${got.valueSha256}, want ${want.valueLength} bytes ${want.valueSha256}`,
      );
    } else if (got.flags !== want.flags) differences.push(`${key}: flags ${got.flags}, want ${want.flags}`);
    else if (
      (got.exptime === 0) !== (want.exptime === 0) ||
      Math.abs(got.exptime - want.exptime) > ttlToleranceSeconds
    ) {
      differences.push(`${key}: exptime ${got.exptime}, want ${want.exptime}`);
    }
  }
  for (const key of actual.keys()) if (!expected.has(key)) differences.push(`${key}: unexpected`);
  return differences;
}

/** A plain TCP connection to a memcached port on loopback (or `host`), for the generator and digests. */
export function loopbackConnection(port: number, host = '127.0.0.1'): StreamFactory {
  return () =>
    new Promise((resolve, reject) => {
      const socket = createConnection({ host, port }, () => resolve(socket));
      socket.once('error', reject);
    });
}

/** Every key with metadump's absolute expiry (`exp=`, -1: never), from one `all` listing. */
async function listKeysWithExpiry(
  factory: StreamFactory,
): Promise<Map<string, { key: Buffer; exptime: number }>> {
  for (let attempt = 0; ; attempt++) {
    const wire = new Wire(await factory());
    try {
      await wire.write('lru_crawler metadump all\r\n');
      let reply = await wire.line();
      if (reply === 'OK') reply = await wire.line();
      const parts = reply.split('\n');
      const last = parts.pop() ?? '';
      if (last.startsWith('BUSY') && attempt < 100) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      if (last.startsWith('NOTSTARTED')) return new Map();
      if (last !== 'END') throw new Error(`metadump: ${last}`);
      const keys = new Map<string, { key: Buffer; exptime: number }>();
      for (const part of parts) {
        const key = percentDecode(part.slice(4, part.indexOf(' ')));
        const exp = Number(/ exp=(-?\d+)/.exec(part)?.[1]);
        keys.set(key.toString('hex'), { key, exptime: Math.max(exp, 0) });
      }
      return keys;
    } finally {
      wire.close();
    }
  }
}

/**
 * digestItems for a server without meta commands (1.4, 1.5): keys and expiry
 * from metadump, values and flags from classic `get` where the text protocol
 * can name the key, else from a binary-protocol GET.
 */
export async function digestItemsClassic(factory: StreamFactory): Promise<Map<string, ItemDigest>> {
  const listed = await listKeysWithExpiry(factory);
  const text = new Wire(await factory());
  const binary = new Wire(await factory());
  const digests = new Map<string, ItemDigest>();
  const digest = (hex: string, flags: number, data: Buffer, exptime: number) =>
    digests.set(hex, {
      flags,
      valueLength: data.length,
      valueSha256: createHash('sha256').update(data).digest('hex'),
      exptime,
    });
  try {
    for (const [hex, { key, exptime }] of listed) {
      if (isRawSafe(key)) {
        await text.write(Buffer.from(`get ${key.toString('latin1')}\r\n`, 'latin1'));
        const line = await text.line();
        if (line === 'END') continue;
        const [tag, , flags, length] = line.split(' ');
        if (tag !== 'VALUE') throw new Error(`digestItemsClassic: get ${hex}: ${line}`);
        const data = await text.bytes(Number(length) + 2);
        if ((await text.line()) !== 'END') throw new Error(`digestItemsClassic: get ${hex}: no END`);
        digest(hex, Number(flags), Buffer.from(data.subarray(0, data.length - 2)), exptime);
      } else {
        const request = Buffer.alloc(24);
        request[0] = 0x80;
        request.writeUInt16BE(key.length, 2);
        request.writeUInt32BE(key.length, 8);
        await binary.write(Buffer.concat([request, key]));
        const header = await binary.bytes(24);
        const body = Buffer.from(await binary.bytes(header.readUInt32BE(8)));
        if (header.readUInt16BE(6) === 1) continue; // not found
        if (header.readUInt16BE(6) !== 0)
          throw new Error(`digestItemsClassic: GET ${hex}: status ${header.readUInt16BE(6)}`);
        const extras = header[4] as number;
        digest(hex, body.readUInt32BE(0), body.subarray(extras + header.readUInt16BE(2)), exptime);
      }
    }
    return digests;
  } finally {
    text.close();
    binary.close();
  }
}
