import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { serverClockFrom } from '../../src/memcached/expiry.js';
import { MetaClient } from '../../src/memcached/meta-client.js';

// Restoring into memcached before 1.6.10 (a rollback to 1.5): classic `add`,
// against a scripted server that speaks only the text protocol.

/** Answers `add`/`set` as 1.5 does; records each command line and the data stored. */
function textStoreServer(held: Map<string, Buffer>, lines: string[], tooLarge = 1024 * 1024): Duplex {
  let pending = Buffer.alloc(0);
  const stream: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        if (pending[0] === 0x80) {
          // A binary ADD: 24-byte header, 8 bytes of extras (flags, exptime), key, value.
          if (pending.length < 24) break;
          const total = 24 + pending.readUInt32BE(8);
          if (pending.length < total) break;
          const keyLength = pending.readUInt16BE(2);
          const key = pending.toString('latin1', 32, 32 + keyLength);
          lines.push(
            `binary ADD ${Buffer.from(key, 'latin1').toString('base64')} flags ${pending.readUInt32BE(24)} exptime ${pending.readUInt32BE(28)}`,
          );
          const exists = held.has(key);
          if (!exists) held.set(key, Buffer.from(pending.subarray(32 + keyLength, total)));
          const response = Buffer.alloc(24);
          response[0] = 0x81;
          response[1] = 0x02;
          response.writeUInt16BE(exists ? 0x0002 : 0, 6);
          response.writeUInt32BE(pending.readUInt32BE(12), 12);
          pending = pending.subarray(total);
          stream.push(response);
          continue;
        }
        const end = pending.indexOf('\r\n');
        if (end < 0) break;
        const line = pending.toString('latin1', 0, end);
        const [command, key, , , size] = line.split(' ');
        const length = Number(size);
        if (pending.length < end + 2 + length + 2) break;
        const data = Buffer.from(pending.subarray(end + 2, end + 2 + length));
        pending = pending.subarray(end + 2 + length + 2);
        lines.push(line);
        if (length > tooLarge) stream.push('SERVER_ERROR object too large for cache\r\n');
        else if (command === 'add' && held.has(key as string)) stream.push('NOT_STORED\r\n');
        else if (command === 'add' || command === 'set') {
          held.set(key as string, data);
          stream.push('STORED\r\n');
        } else stream.push('ERROR\r\n');
      }
      done();
    },
  });
  return stream;
}

describe('classic store (add) for memcached before 1.6.10', () => {
  it('adds each item with flags and expiry as classic exptime, keeps what a client wrote first, and adds keys the text protocol cannot name through the binary protocol', async () => {
    const held = new Map<string, Buffer>([
      ['client-wrote', Buffer.from('newer')],
      ['client wrote', Buffer.from('newer')],
    ]);
    const lines: string[] = [];
    const client = await MetaClient.connect(async () => textStoreServer(held, lines, 100), {
      connections: 1,
    });
    const now = 1_795_000_000;
    try {
      const counts = await client.storeItems(
        [
          {
            key: Buffer.from('plain'),
            value: Buffer.from('a\r\nb'),
            flags: 4_294_967_295,
            exptime: now + 60,
          },
          { key: Buffer.from('forever'), value: Buffer.from('x'), flags: 0, exptime: 0 },
          { key: Buffer.from('far'), value: Buffer.from('y'), flags: 1, exptime: now + 60 * 86_400 },
          { key: Buffer.from('client-wrote'), value: Buffer.from('older'), flags: 0, exptime: 0 },
          { key: Buffer.from('expired'), value: Buffer.from('z'), flags: 0, exptime: now - 5 },
          { key: Buffer.from('big'), value: Buffer.alloc(200), flags: 0, exptime: 0 },
          { key: Buffer.from('has space'), value: Buffer.from('w\r\n'), flags: 9, exptime: now + 30 },
          { key: Buffer.from('client wrote'), value: Buffer.from('older'), flags: 0, exptime: 0 },
        ],
        { mode: 'add', via: 'text' },
        serverClockFrom(now),
      );
      expect(counts).toMatchObject({
        stored: 4,
        keptNewer: 2,
        expiredSkipped: 1,
        tooLarge: ['big'],
        unaddressable: [],
      });
      expect(lines).toEqual([
        // Absolute unix time (memcached reads anything beyond 30 days so), as ms's T:
        // converted through memcached's fixed process_started, never its lagging current_time.
        `add plain 4294967295 ${now + 60} 4`,
        'add forever 0 0 1',
        `add far 1 ${now + 60 * 86_400} 1`,
        'add client-wrote 0 0 5',
        'add big 0 0 200',
        // Keys the text protocol cannot name go through the binary protocol's ADD.
        `binary ADD ${Buffer.from('has space').toString('base64')} flags 9 exptime ${now + 30}`,
        `binary ADD ${Buffer.from('client wrote').toString('base64')} flags 0 exptime 0`,
      ]);
      expect(held.get('has space')?.toString()).toBe('w\r\n');
      expect(held.get('client wrote')?.toString()).toBe('newer');
      expect(held.get('plain')?.toString()).toBe('a\r\nb');
      expect(held.get('client-wrote')?.toString()).toBe('newer');
    } finally {
      client.close();
    }
  });
});
