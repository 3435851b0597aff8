import { hash } from 'node:crypto';

// What the full pass remembers so the delta pass can re-read only what changed:
// per key, a 15-byte digest (the first 120 bits of sha1 of the key bytes, so
// its base64 form is exactly 20 characters, no padding) and its cas. Keys
// themselves are not kept: a key can be 250 bytes, a digest is 15. The digest is
// computed as base64 text directly: 0.2 µs a key, against 1.2 µs through a Buffer.
//
// Memory: measured ≈ 85 bytes per item on Node 20 (the 20-character string, the
// Map slot, and a heap number for cas ≥ 2^31): 1 M items ≈ 85 MB, 100 k ≈ 8.5 MB.

export const KEY_DIGEST_BYTES = 15;

/** The digest as the string used for Map keys. */
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

/**
 * cas per key digest (keyDigestId), as of the last pass. Methods take the
 * digest id so a pass computes it once per key.
 */
export class CasIndex {
  private current = new Map<string, number>();
  private next: Map<string, number> | undefined;

  get size(): number {
    return this.current.size;
  }

  /** Full pass: remembers a listed key; false if it was already listed (met twice). */
  rememberNew(id: string, cas: number): boolean {
    if (this.current.has(id)) return false;
    this.current.set(id, cas);
    return true;
  }

  /** The cas of the item as actually read (it may have changed since listing). */
  remember(id: string, cas: number): void {
    (this.next ?? this.current).set(id, cas);
  }

  /** The key vanished before it could be read. */
  forget(id: string): void {
    (this.next ?? this.current).delete(id);
  }

  has(id: string): boolean {
    return this.current.has(id);
  }

  /** Starts a delta pass: every key seen from now on is compared, the rest will be reported deleted. */
  beginDelta(): void {
    this.next = new Map();
  }

  /** Delta pass: one metadump entry. */
  observe(id: string, cas: number): DeltaVerdict {
    if (!this.next) throw new Error('CasIndex.observe outside a delta pass');
    const known = this.current.get(id);
    this.current.delete(id);
    this.next.set(id, cas);
    if (known === undefined) return 'new';
    return known === cas ? 'unchanged' : 'changed';
  }

  /** Ends a delta pass: returns the digests of keys not seen (deleted since the last pass). */
  endDelta(): Buffer[] {
    if (!this.next) throw new Error('CasIndex.endDelta outside a delta pass');
    const deleted = [...this.current.keys()].map((id) => Buffer.from(id, 'base64'));
    this.current = this.next;
    this.next = undefined;
    return deleted;
  }
}
