import { describe, expect, it } from 'vitest';
import {
  absoluteExptime,
  LISTED_EXPIRY_SLACK_SECONDS,
  listedOrMeasuredExptime,
  RELATIVE_TTL_MAX,
  storeTtl,
} from '../../src/memcached/expiry.js';
import {
  BASE64_KEY_MAX_BYTES,
  decodeMetadumpKey,
  displayKey,
  encodeKey,
  KeyEncodingError,
  MetadumpKeyError,
} from '../../src/memcached/key-encoding.js';

function problemOf(key: Buffer): string {
  try {
    encodeKey(key);
    return 'none';
  } catch (error) {
    expect(error).toBeInstanceOf(KeyEncodingError);
    return (error as KeyEncodingError).problem;
  }
}

describe('encodeKey', () => {
  it('sends printable ASCII and UTF-8 keys raw, byte for byte', () => {
    expect(encodeKey(Buffer.from('user:42/profile?x=1&y=%20'))).toEqual({
      token: 'user:42/profile?x=1&y=%20',
      base64: false,
    });
    const utf8 = Buffer.from('clé-日本語-€', 'utf8');
    const encoded = encodeKey(utf8);
    expect(encoded.base64).toBe(false);
    expect(Buffer.from(encoded.token, 'latin1')).toEqual(utf8);
  });

  it('sends a 250-byte key raw', () => {
    expect(encodeKey(Buffer.alloc(250, 'k'))).toEqual({ token: 'k'.repeat(250), base64: false });
  });

  it('sends keys with a space, control byte or DEL as base64', () => {
    for (const key of ['a b', 'a\tb', 'a\r\nb', 'nul\0', 'del\x7f', '\x01']) {
      const encoded = encodeKey(Buffer.from(key, 'latin1'));
      expect(encoded.base64).toBe(true);
      expect(Buffer.from(encoded.token, 'base64').toString('latin1')).toBe(key);
    }
  });

  it('accepts a 186-byte key that needs base64 (248 characters) and refuses 187 (252)', () => {
    expect(encodeKey(Buffer.alloc(BASE64_KEY_MAX_BYTES, ' ')).token).toHaveLength(248);
    expect(problemOf(Buffer.alloc(BASE64_KEY_MAX_BYTES + 1, ' '))).toBe('base64-too-long');
  });

  it('refuses empty keys and keys over 250 bytes, saying which', () => {
    expect(problemOf(Buffer.alloc(0))).toBe('empty');
    expect(problemOf(Buffer.alloc(251, 'k'))).toBe('too-long');
    expect(problemOf(Buffer.alloc(250, 'k'))).toBe('none');
  });
});

describe('decodeMetadumpKey', () => {
  it('percent-decodes to bytes, not to a UTF-8 string', () => {
    expect(decodeMetadumpKey('a%20b%00%C3%BF%0D%0A%E2%82%AC')).toEqual(
      Buffer.from([0x61, 0x20, 0x62, 0x00, 0xc3, 0xbf, 0x0d, 0x0a, 0xe2, 0x82, 0xac]),
    );
    // A lone byte that is not valid UTF-8 survives.
    expect(decodeMetadumpKey('%FF%FE')).toEqual(Buffer.from([0xff, 0xfe]));
    // A key that held a literal "%20" is dumped as %2520.
    expect(decodeMetadumpKey('a%2520b').toString('latin1')).toBe('a%20b');
    expect(decodeMetadumpKey('plain-key_1.2~x')).toEqual(Buffer.from('plain-key_1.2~x'));
    expect(decodeMetadumpKey('%c3%a9')).toEqual(Buffer.from('é'));
  });

  it('rejects a broken escape', () => {
    expect(() => decodeMetadumpKey('abc%2')).toThrow(MetadumpKeyError);
    expect(() => decodeMetadumpKey('abc%zz')).toThrow(MetadumpKeyError);
  });
});

describe('displayKey', () => {
  it('shows printable keys as-is and the rest as base64', () => {
    expect(displayKey(Buffer.from('user:1'))).toBe('user:1');
    expect(displayKey(Buffer.from('a b'))).toBe(`base64:${Buffer.from('a b').toString('base64')}`);
    expect(displayKey(Buffer.from('é'))).toBe(`base64:${Buffer.from('é').toString('base64')}`);
  });
});

describe('expiry', () => {
  const now = 1_800_000_000;
  it('turns mg t into an absolute time, -1 into never', () => {
    expect(absoluteExptime(-1, now)).toBe(0);
    expect(absoluteExptime(3600, now)).toBe(now + 3600);
  });

  it('stores the absolute expiry (memcached reads it through its fixed process_started), and skips what ran out', () => {
    expect(storeTtl(0, now)).toBe(0);
    // Absolute, so memcached's own (possibly lagging) current_time never shifts it.
    expect(storeTtl(now + 3600, now)).toBe(now + 3600);
    expect(storeTtl(now + 1, now)).toBe(now + 1);
    expect(storeTtl(now + RELATIVE_TTL_MAX + 1, now)).toBe(now + RELATIVE_TTL_MAX + 1);
    expect(storeTtl(now, now)).toBeUndefined();
    expect(storeTtl(now - 5, now)).toBeUndefined();
  });

  it("keeps metadump's expiry over mg's clock-based one when the cas agrees and the two are near", () => {
    const listed = { exptime: now + 3600, cas: 77 };
    // memcached's clock lagged: t plus our reading lands 5 s late; the server's own record wins.
    expect(listedOrMeasuredExptime(now + 3605, 77, listed)).toBe(now + 3600);
    expect(listedOrMeasuredExptime(now + 3600 - LISTED_EXPIRY_SLACK_SECONDS, 77, listed)).toBe(now + 3600);
  });

  it("takes mg's expiry for a rewrite, a touch past the slack, a change to or from never, or no listing", () => {
    const listed = { exptime: now + 3600, cas: 77 };
    expect(listedOrMeasuredExptime(now + 3605, 78, listed)).toBe(now + 3605);
    expect(listedOrMeasuredExptime(now + 3601 + LISTED_EXPIRY_SLACK_SECONDS, 77, listed)).toBe(
      now + 3601 + LISTED_EXPIRY_SLACK_SECONDS,
    );
    expect(listedOrMeasuredExptime(now + 60, 77, listed)).toBe(now + 60);
    expect(listedOrMeasuredExptime(0, 77, listed)).toBe(0);
    expect(listedOrMeasuredExptime(now + 3600, 77, { exptime: 0, cas: 77 })).toBe(now + 3600);
    expect(listedOrMeasuredExptime(now + 3605, 77, {})).toBe(now + 3605);
  });
});
