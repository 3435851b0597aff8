import { KEY_DIGEST_BYTES } from './key-index.js';

// The memplay backup file, version 1. All integers big-endian.
//
//   [0, 4096)        header block: the line "MEMPLAY-BACKUP 1\n", then the header
//                    as one line of JSON, then spaces up to byte 4095, then "\n".
//                    Written first as a placeholder (complete: false) and rewritten
//                    in place at the end with the final counts and checksum.
//   [4096, T)        records, back to back:
//     'S' section    u8 type, u8 section (1 = full pass, 2 = delta pass), i64 server time
//     'I' item       u8 type, u16 key length, u32 flags, i64 exptime (absolute unix
//                    seconds on the server's clock, 0 = never), u64 cas,
//                    u32 value length, key bytes, value bytes
//     'T' tombstone  u8 type, 15-byte key digest (first 120 bits of sha1(key)):
//                    the key was deleted after the full pass
//   [T, T+97)        trailer: u8 'E', u64 item records, u64 tombstones, u64 value
//                    bytes, u64 T-4096 (record bytes), 32-byte sha256 of [4096, T),
//                    32-byte sha256 of the final header block [0, 4096)
//   the file ends right after the trailer.
//
// A reader detects truncation (file shorter than header + records + trailer),
// corruption anywhere (records: their sha256 differs from the trailer's and the
// header's; header block, padding included: its sha256 differs from the
// trailer's; a record that does not parse), a never-finished file (complete:
// false), and foreign or future files (magic line, format version).

export const MAGIC_LINE = 'MEMPLAY-BACKUP 1\n';
export const FORMAT_VERSION = 1;
export const HEADER_SIZE = 4096;
export const BACKUP_EXTENSION = '.mpbak';

export const RECORD_SECTION = 0x53; // 'S'
export const RECORD_ITEM = 0x49; // 'I'
export const RECORD_TOMBSTONE = 0x54; // 'T'
export const RECORD_TRAILER = 0x45; // 'E'

export const SECTION_FULL = 1;
export const SECTION_DELTA = 2;

export const SECTION_RECORD_SIZE = 10;
export const ITEM_FIXED_SIZE = 27;
export const TOMBSTONE_RECORD_SIZE = 1 + KEY_DIGEST_BYTES;
export const TRAILER_SIZE = 97;

/** memcached's largest possible item (-I 1g); a bigger length field is corruption. */
export const VALUE_MAX_BYTES = 1024 * 1024 * 1024;
export const KEY_MAX_BYTES = 250;

export interface BackupHeader {
  readonly format: 'memplay-backup';
  readonly version: number;
  readonly host: string;
  readonly memcachedVersion: string;
  /** When the backup was started, ISO 8601 UTC. */
  readonly createdAt: string;
  /** The server's unix time when the full pass's metadump started. */
  readonly serverTimeAtDump: number;
  /** The server's unix time when the last delta pass started, if any. */
  readonly serverTimeAtDelta: number | null;
  /** False in the placeholder: a reader seeing it knows the writer never finished. */
  readonly complete: boolean;
  /** Item records in the file (full pass + delta pass). */
  readonly items: number;
  readonly fullItems: number;
  readonly deltaItems: number;
  readonly tombstones: number;
  readonly valueBytes: number;
  /** Bytes of records between the header block and the trailer. */
  readonly recordBytes: number;
  /** sha256 (hex) of those bytes. */
  readonly recordsSha256: string;
  /** File offset of the first delta section record, or null when there was no delta pass. */
  readonly deltaOffset: number | null;
  /** Free-form facts the backup task wants kept with the file (stats, dump counts). */
  readonly metadata: Record<string, unknown>;
}

export interface BackupItem {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly flags: number;
  /** Absolute unix seconds on the server's clock; 0 = never expires. */
  readonly exptime: number;
  readonly cas: number;
}

export function encodeHeaderBlock(header: BackupHeader): Buffer {
  const block = Buffer.alloc(HEADER_SIZE, 0x20);
  const text = `${MAGIC_LINE}${JSON.stringify(header)}\n`;
  const length = Buffer.byteLength(text);
  if (length > HEADER_SIZE - 1) {
    throw new RangeError(`backup header is ${length} bytes, more than the ${HEADER_SIZE - 1} reserved`);
  }
  block.write(text, 0, 'utf8');
  block[HEADER_SIZE - 1] = 0x0a;
  return block;
}

export function backupFileName(createdAt: Date, memcachedVersion: string): string {
  const stamp = createdAt
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${safePathPart(memcachedVersion)}${BACKUP_EXTENSION}`;
}

/** A host or version as one path component: no separators, no dot-files. */
export function safePathPart(text: string): string {
  const safe = text.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_');
  return safe || '_';
}
