import { hash } from 'node:crypto';

// What the full pass remembers so the delta pass can re-read only what changed:
// per key, a 15-byte digest (the first 120 bits of sha1 of the key bytes, so
// its base64 form is exactly 20 characters, no padding) and its cas. Keys
// themselves are not kept: a key can be 250 bytes, a digest is 15. The digest is
// computed as base64 text directly: 0.2 µs a key, against 1.2 µs through a Buffer.
//
// The index is an open-addressing table in typed arrays, not a Map of strings:
// a Map cost ≈ 85 bytes per item on the V8 heap (65 MB for a 1 GB cache of
// 770k items), all of it traced by every major GC while the pass allocates
// network buffers at full speed. Here an item costs one 24-byte slot
// (digest 16 + cas 8) at a load of at most 3/4, and the GC sees two arrays.

export const KEY_DIGEST_BYTES = 15;

/** The digest as a 20-character base64 string (digestIdOf reverses keyDigest). */
export function keyDigestId(key: Buffer): string {
  return hash('sha1', key, 'base64').slice(0, 20);
}

export function keyDigest(key: Buffer): Buffer {
  return Buffer.from(keyDigestId(key), 'base64');
}

export function digestIdOf(digest: Buffer): string {
  return digest.toString('base64');
}

export type DeltaVerdict = 'new' | 'changed' | 'unchanged';

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const SEXTET = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE64.length; i++) SEXTET[BASE64.charCodeAt(i)] = i;

/** Four 32-bit words of a digest id: bytes 0–14 of the digest, then 1 in the low byte (occupied). */
type DigestWords = Uint32Array;

/** In a slot's low byte, besides OCCUPIED: the delta pass has met this key. */
const OCCUPIED = 1;
const SEEN = 2;

function sextet(id: string, at: number): number {
  const value = SEXTET[id.charCodeAt(at)] ?? -1;
  if (value < 0) throw new RangeError(`not a key digest id: ${JSON.stringify(id)}`);
  return value;
}

/** Decodes a 20-character digest id into `out` (4 words). */
function wordsOf(id: string, out: DigestWords): DigestWords {
  if (id.length !== 20) throw new RangeError(`not a key digest id: ${JSON.stringify(id)}`);
  // 20 base64 characters = 5 groups of 24 bits = 15 bytes.
  let word = 0;
  let bytes = 0;
  let w = 0;
  for (let group = 0; group < 5; group++) {
    const at = group * 4;
    const bits =
      (sextet(id, at) << 18) | (sextet(id, at + 1) << 12) | (sextet(id, at + 2) << 6) | sextet(id, at + 3);
    for (let shift = 16; shift >= 0; shift -= 8) {
      word = (word << 8) | ((bits >>> shift) & 0xff);
      if (++bytes === 4) {
        out[w++] = word >>> 0;
        word = 0;
        bytes = 0;
      }
    }
  }
  out[3] = ((word << 8) | OCCUPIED) >>> 0;
  return out;
}

function digestOfWords(words: Uint32Array, at: number): Buffer {
  const digest = Buffer.allocUnsafe(16);
  for (let i = 0; i < 4; i++) digest.writeUInt32BE(words[at + i] as number, i * 4);
  return digest.subarray(0, KEY_DIGEST_BYTES);
}

const MIN_CAPACITY = 1024;

/**
 * The slots that hold `items` at a load of at most 3/4, any count (not a power of
 * two): rounding up to a power of two doubled a 770k-item index (the backup task
 * asks for curr_items + 5 %, just past 2^20 × 3/4) to 50 MB, a quarter of the
 * controller's peak RSS backing up 1 GB. Slots are found by remainder instead of mask.
 */
export function capacityFor(items: number): number {
  return Math.max(MIN_CAPACITY, Math.ceil((items * 4) / 3));
}

/** digest → cas, linear probing with backward-shift deletion (no tombstones to sweep). */
class DigestTable {
  private words: Uint32Array;
  private cas: Float64Array;
  private capacity: number;
  size = 0;

  constructor(capacity = MIN_CAPACITY) {
    this.words = new Uint32Array(capacity * 4);
    this.cas = new Float64Array(capacity);
    this.capacity = capacity;
  }

  /** The slot a digest starts probing from: its first word is uniform, so a remainder spreads keys evenly. */
  private home(firstWord: number): number {
    return firstWord % this.capacity;
  }

  private nextSlot(slot: number): number {
    return slot + 1 === this.capacity ? 0 : slot + 1;
  }

  /** The slot holding `d`, or -1 - (the empty slot where it would go). */
  private find(d: DigestWords): number {
    const words = this.words;
    for (let slot = this.home(d[0] as number); ; slot = this.nextSlot(slot)) {
      const at = slot * 4;
      if (words[at + 3] === 0) return -1 - slot;
      if (
        words[at] === d[0] &&
        words[at + 1] === d[1] &&
        words[at + 2] === d[2] &&
        ((words[at + 3] as number) | SEEN) === ((d[3] as number) | SEEN)
      ) {
        return slot;
      }
    }
  }

  get(d: DigestWords): number | undefined {
    const slot = this.find(d);
    return slot >= 0 ? this.cas[slot] : undefined;
  }

  /** Sets the cas of `d` (and marks it seen if asked); true if `d` was not there before. */
  set(d: DigestWords, cas: number, seen = false): boolean {
    let slot = this.find(d);
    const isNew = slot < 0;
    if (isNew) {
      if ((this.size + 1) * 4 > this.capacity * 3) {
        this.grow();
        slot = this.find(d);
      }
      slot = -1 - slot;
      this.words.set(d, slot * 4);
      this.size++;
    }
    this.cas[slot] = cas;
    if (seen) this.words[slot * 4 + 3] = ((this.words[slot * 4 + 3] as number) | SEEN) >>> 0;
    return isNew;
  }

  delete(d: DigestWords): boolean {
    let hole = this.find(d);
    if (hole < 0) return false;
    const words = this.words;
    // Pull later members of the same probe run back over the hole, so every
    // key stays reachable from its home slot without a tombstone.
    for (let slot = this.nextSlot(hole); words[slot * 4 + 3] !== 0; slot = this.nextSlot(slot)) {
      const home = this.home(words[slot * 4] as number);
      const stays = hole <= slot ? hole < home && home <= slot : hole < home || home <= slot;
      if (stays) continue;
      words.copyWithin(hole * 4, slot * 4, slot * 4 + 4);
      this.cas[hole] = this.cas[slot] as number;
      hole = slot;
    }
    words.fill(0, hole * 4, hole * 4 + 4);
    this.size--;
    return true;
  }

  /** Removes the members not marked seen and returns their 15-byte digests; clears the marks. */
  sweepUnseen(): Buffer[] {
    const words = this.words;
    const unseen: Buffer[] = [];
    for (let slot = 0; slot < this.capacity; slot++) {
      const low = (words[slot * 4 + 3] as number) & 0xff;
      if (low === OCCUPIED) unseen.push(digestOfWords(words, slot * 4));
    }
    const d = new Uint32Array(4);
    for (const digest of unseen) {
      for (let i = 0; i < 4; i++)
        d[i] = i < 3 ? digest.readUInt32BE(i * 4) : ((digest.readUIntBE(12, 3) << 8) | OCCUPIED) >>> 0;
      this.delete(d);
    }
    for (let slot = 0; slot < this.capacity; slot++)
      words[slot * 4 + 3] = ((words[slot * 4 + 3] as number) & ~SEEN) >>> 0;
    return unseen;
  }

  private grow(): void {
    const words = this.words;
    const cas = this.cas;
    const capacity = this.capacity * 2;
    this.words = new Uint32Array(capacity * 4);
    this.cas = new Float64Array(capacity);
    this.capacity = capacity;
    this.size = 0;
    for (let slot = 0; slot < cas.length; slot++) {
      if (words[slot * 4 + 3] !== 0) this.set(words.subarray(slot * 4, slot * 4 + 4), cas[slot] as number);
    }
  }
}

/**
 * cas per key digest (keyDigestId), as of the last pass. Methods take the
 * digest id so a pass computes it once per key. cas values are kept as
 * doubles: exact below 2^53, which a server's cas counter does not reach.
 */
export class CasIndex {
  // One table for both passes: a delta pass marks what it meets rather than
  // building a second table, which doubled the index's memory at the worst time.
  private readonly table: DigestTable;
  private inDelta = false;
  private readonly scratch = new Uint32Array(4);

  /**
   * `expectedItems` (curr_items before the pass) sizes the table once: grown by
   * doubling, a 770k-item index held its old and new arrays together (12.6 +
   * 25 MB) halfway through the pass, at the controller's peak RSS.
   */
  constructor(expectedItems = 0) {
    this.table = new DigestTable(capacityFor(expectedItems));
  }

  get size(): number {
    return this.table.size;
  }

  /** Full pass: remembers a listed key; false if it was already listed (met twice). */
  rememberNew(id: string, cas: number): boolean {
    const d = wordsOf(id, this.scratch);
    if (this.table.get(d) !== undefined) return false;
    this.table.set(d, cas);
    return true;
  }

  /** The cas of the item as actually read (it may have changed since listing). */
  remember(id: string, cas: number): void {
    this.table.set(wordsOf(id, this.scratch), cas, this.inDelta);
  }

  /** The key vanished before it could be read. */
  forget(id: string): void {
    this.table.delete(wordsOf(id, this.scratch));
  }

  /** The cas memplay last read for the key, or undefined if it is not in the backup. */
  casOf(id: string): number | undefined {
    return this.table.get(wordsOf(id, this.scratch));
  }

  has(id: string): boolean {
    return this.table.get(wordsOf(id, this.scratch)) !== undefined;
  }

  /** Starts a delta pass: every key seen from now on is compared, the rest will be reported deleted. */
  beginDelta(): void {
    this.inDelta = true;
  }

  /** Delta pass: one metadump entry. */
  observe(id: string, cas: number): DeltaVerdict {
    if (!this.inDelta) throw new Error('CasIndex.observe outside a delta pass');
    const d = wordsOf(id, this.scratch);
    const known = this.table.get(d);
    this.table.set(d, cas, true);
    if (known === undefined) return 'new';
    return known === cas ? 'unchanged' : 'changed';
  }

  /** Ends a delta pass: forgets the keys not seen and returns their digests (deleted since the last pass). */
  endDelta(): Buffer[] {
    if (!this.inDelta) throw new Error('CasIndex.endDelta outside a delta pass');
    this.inDelta = false;
    return this.table.sweepUnseen();
  }
}
