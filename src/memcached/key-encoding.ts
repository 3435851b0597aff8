// How a memcached key travels on the text/meta protocol, and back from metadump.
//
// memcached holds keys as bytes. The text protocol splits a command line on
// spaces and ends it at LF, so a key with a space or control byte can only be
// sent base64-encoded with the meta `b` flag. Measured on 1.6.18 and 1.6.38:
// the limit of 250 applies to the key token as sent, so in `b` mode the base64
// text must itself fit in 250 characters (padded: unpadded base64 is refused
// with `CLIENT_ERROR error decoding key`). That makes 186 bytes the longest key
// that can travel as base64 (4·⌈186/3⌉ = 248; 187 bytes need 252 characters).

export const KEY_MAX_BYTES = 250;
export const BASE64_KEY_MAX_BYTES = 186;

export type KeyEncodingProblem = 'empty' | 'too-long' | 'base64-too-long' | 'not-text';

/** A key memcached holds but that the meta protocol cannot address. */
export class KeyEncodingError extends Error {
  override name = 'KeyEncodingError';
  constructor(
    readonly problem: KeyEncodingProblem,
    readonly key: Buffer,
    message: string,
  ) {
    super(message);
  }
}

export interface EncodedKey {
  /** The key token to put on a meta command line. */
  readonly token: string;
  /** True when the token is base64 and the command needs the `b` flag. */
  readonly base64: boolean;
}

/** True when the key can be sent as-is: no space, control byte or DEL. */
export function isRawSafe(key: Buffer): boolean {
  for (let i = 0; i < key.length; i++) {
    const byte = key[i] as number;
    if (byte <= 0x20 || byte === 0x7f) return false;
  }
  return true;
}

export function encodeKey(key: Buffer): EncodedKey {
  if (key.length === 0) throw new KeyEncodingError('empty', key, 'an empty key cannot be sent to memcached');
  if (key.length > KEY_MAX_BYTES) {
    throw new KeyEncodingError(
      'too-long',
      key,
      `key ${displayKey(key)} is ${key.length} bytes, memcached accepts at most ${KEY_MAX_BYTES}`,
    );
  }
  // latin1 maps each byte to one char, so the token carries the exact bytes (UTF-8 included)
  // as long as the socket write uses latin1 too.
  if (isRawSafe(key)) return { token: key.toString('latin1'), base64: false };
  if (key.length > BASE64_KEY_MAX_BYTES) {
    throw new KeyEncodingError(
      'base64-too-long',
      key,
      `key ${displayKey(key)} has a space or control byte, so it must be sent base64-encoded, ` +
        `which memcached accepts only up to ${BASE64_KEY_MAX_BYTES} bytes; this one is ${key.length}`,
    );
  }
  return { token: key.toString('base64'), base64: true };
}

/**
 * The key token for the classic text protocol (`gets`), which has no base64
 * mode: a key with a space or control byte (one a binary-protocol client wrote)
 * cannot be named on it at all.
 */
export function classicKeyToken(key: Buffer): string {
  const encoded = encodeKey(key);
  if (encoded.base64) {
    throw new KeyEncodingError(
      'not-text',
      key,
      `key ${displayKey(key)} has a space or control byte, which the text protocol cannot carry`,
    );
  }
  return encoded.token;
}

/** The key as a person should read it in a report: as-is when printable ASCII, else base64. */
export function displayKey(key: Buffer): string {
  for (let i = 0; i < key.length; i++) {
    const byte = key[i] as number;
    if (byte <= 0x20 || byte >= 0x7f) return `base64:${key.toString('base64')}`;
  }
  return key.toString('latin1');
}

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x37;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x57;
  return -1;
}

export class MetadumpKeyError extends Error {
  override name = 'MetadumpKeyError';
}

/**
 * metadump prints keys percent-encoded (everything but A-Za-z0-9-._~). Decoding
 * is byte-wise: %C3%BF is the two bytes C3 BF, never a re-encoded UTF-8 string.
 */
export function decodeMetadumpKey(encoded: string | Buffer): Buffer {
  const source = typeof encoded === 'string' ? Buffer.from(encoded, 'latin1') : encoded;
  if (source.indexOf(0x25) < 0) return Buffer.from(source);
  const out = Buffer.allocUnsafe(source.length);
  let length = 0;
  for (let i = 0; i < source.length; i++) {
    const byte = source[i] as number;
    if (byte !== 0x25) {
      out[length++] = byte;
      continue;
    }
    const high = i + 2 < source.length ? hexValue(source[i + 1] as number) : -1;
    const low = high >= 0 ? hexValue(source[i + 2] as number) : -1;
    if (low < 0) {
      throw new MetadumpKeyError(
        `bad percent-escape at offset ${i} in metadump key ${source.toString('latin1').slice(0, 80)}`,
      );
    }
    out[length++] = high * 16 + low;
    i += 2;
  }
  return out.subarray(0, length);
}
