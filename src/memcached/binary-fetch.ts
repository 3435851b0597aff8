import type { Duplex } from 'node:stream';

// Keys only the binary protocol can name (a space or control byte: a
// binary-protocol client wrote them), read from (and, in a rollback, written
// back to) memcached before 1.6.10, whose text protocol has no base64 key mode.
// Plain GETs or ADDs in order on a connection of their own (memcached answers a
// binary connection in request order); such keys are few, so one window of
// requests at a time is enough.

const HEADER = 24;
const GET = 0x00;
const ADD = 0x02;
const STATUS_EXISTS = 0x0002;
const STATUS_TOO_LARGE = 0x0003;
const STATUS_NOT_STORED = 0x0005;
const STATUS_NO_MEMORY = 0x0082;
const STATUS_OK = 0x0000;
const STATUS_NOT_FOUND = 0x0001;
const WINDOW = 256;
/** A server that waits for a text line it will never get (`-B ascii`) must not hang the backup. */
const RESPONSE_TIMEOUT_MS = 10_000;

export interface BinaryValue {
  readonly value: Buffer;
  readonly flags: number;
  readonly cas: number;
}

export class BinaryFetchError extends Error {
  override name = 'BinaryFetchError';
}

function getRequest(key: Buffer, opaque: number): Buffer {
  const header = Buffer.alloc(HEADER);
  header[0] = 0x80;
  header[1] = GET;
  header.writeUInt16BE(key.length, 2);
  header.writeUInt32BE(key.length, 8);
  header.writeUInt32BE(opaque, 12);
  return Buffer.concat([header, key]);
}

/** Reads whole binary responses off a stream as they arrive. */
class ResponseReader {
  private buffered: Buffer = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  private failure: Error | undefined;

  constructor(stream: Duplex) {
    stream.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
      this.waiting?.();
    });
    const fail = (error: Error) => {
      this.failure ??= error;
      this.waiting?.();
    };
    stream.on('error', fail);
    stream.on('close', () => fail(new BinaryFetchError('memcached closed the binary connection')));
  }

  async next(): Promise<{ status: number; opaque: number; cas: number; extras: Buffer; value: Buffer }> {
    const deadline = Date.now() + RESPONSE_TIMEOUT_MS;
    for (;;) {
      if (this.buffered.length > 0 && this.buffered[0] !== 0x81) {
        // `-B ascii` answers a binary request in text, if at all.
        throw new BinaryFetchError(`not a binary response: ${this.buffered.toString('latin1', 0, 40)}`);
      }
      if (this.buffered.length >= HEADER) {
        const body = this.buffered.readUInt32BE(8);
        if (this.buffered.length >= HEADER + body) {
          const response = Buffer.from(this.buffered.subarray(0, HEADER + body));
          this.buffered = this.buffered.subarray(HEADER + body);
          const extrasLength = response[4] as number;
          const keyLength = response.readUInt16BE(2);
          return {
            status: response.readUInt16BE(6),
            opaque: response.readUInt32BE(12),
            cas: Number(response.readBigUInt64BE(16)),
            extras: response.subarray(HEADER, HEADER + extrasLength),
            value: response.subarray(HEADER + extrasLength + keyLength),
          };
        }
      }
      if (this.failure) throw this.failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new BinaryFetchError('no binary response (is the binary protocol disabled?)');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiting = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiting = undefined;
    }
  }
}

/** GETs every key; `onValue` gets undefined for a key that is gone. */
export async function fetchBinaryKeys(
  stream: Duplex,
  keys: readonly Buffer[],
  onValue: (index: number, value: BinaryValue | undefined) => Promise<void> | undefined,
): Promise<void> {
  const reader = new ResponseReader(stream);
  for (let start = 0; start < keys.length; start += WINDOW) {
    const window = keys.slice(start, start + WINDOW);
    stream.write(Buffer.concat(window.map((key, i) => getRequest(key, start + i))));
    for (let i = 0; i < window.length; i++) {
      const response = await reader.next();
      if (response.opaque !== start + i) {
        throw new BinaryFetchError(
          `binary GET answered out of order (opaque ${response.opaque}, want ${start + i})`,
        );
      }
      if (response.status === STATUS_NOT_FOUND) await onValue(start + i, undefined);
      else if (response.status === STATUS_OK) {
        const flags = response.extras.length >= 4 ? response.extras.readUInt32BE(0) : 0;
        await onValue(start + i, { value: response.value, flags, cas: response.cas });
      } else {
        throw new BinaryFetchError(
          `binary GET ${keys[start + i]?.toString('base64')}: status ${response.status}`,
        );
      }
    }
  }
}

export type BinaryStoreOutcome = 'stored' | 'kept-newer' | 'too-large' | 'out-of-memory';

function addRequest(
  item: { key: Buffer; value: Buffer; flags: number },
  exptime: number,
  opaque: number,
): Buffer {
  const header = Buffer.alloc(HEADER + 8);
  header[0] = 0x80;
  header[1] = ADD;
  header.writeUInt16BE(item.key.length, 2);
  header[4] = 8;
  header.writeUInt32BE(8 + item.key.length + item.value.length, 8);
  header.writeUInt32BE(opaque, 12);
  header.writeUInt32BE(item.flags >>> 0, HEADER);
  header.writeUInt32BE(exptime >>> 0, HEADER + 4);
  return Buffer.concat([header, item.key, item.value]);
}

/** ADDs every item (`exptime` as memcached reads it: up to 30 days relative); a key a client wrote first stays. */
export async function addBinaryKeys(
  stream: Duplex,
  items: ReadonlyArray<{
    readonly key: Buffer;
    readonly value: Buffer;
    readonly flags: number;
    readonly exptime: number;
  }>,
  onOutcome: (index: number, outcome: BinaryStoreOutcome) => void,
): Promise<void> {
  const reader = new ResponseReader(stream);
  for (let start = 0; start < items.length; start += WINDOW) {
    const window = items.slice(start, start + WINDOW);
    stream.write(Buffer.concat(window.map((item, i) => addRequest(item, item.exptime, start + i))));
    for (let i = 0; i < window.length; i++) {
      const response = await reader.next();
      if (response.opaque !== start + i) {
        throw new BinaryFetchError(
          `binary ADD answered out of order (opaque ${response.opaque}, want ${start + i})`,
        );
      }
      const outcome: BinaryStoreOutcome | undefined =
        response.status === STATUS_OK
          ? 'stored'
          : response.status === STATUS_EXISTS || response.status === STATUS_NOT_STORED
            ? 'kept-newer'
            : response.status === STATUS_TOO_LARGE
              ? 'too-large'
              : response.status === STATUS_NO_MEMORY
                ? 'out-of-memory'
                : undefined;
      if (!outcome) {
        throw new BinaryFetchError(
          `binary ADD ${items[start + i]?.key.toString('base64')}: status ${response.status}`,
        );
      }
      onOutcome(start + i, outcome);
    }
  }
}
