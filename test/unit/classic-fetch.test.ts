import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { serverClockFrom } from '../../src/memcached/expiry.js';
import { type FetchedItem, MetaClient } from '../../src/memcached/meta-client.js';

// The classic read path (memcached 1.4.31–1.6.9): pipelined `gets`, answered
// by a scripted server that speaks only the text protocol, as 1.5.22 does.

interface Held {
  readonly value: Buffer;
  readonly flags: number;
  readonly cas: number;
}

/**
 * A 1.5-like server over an in-memory Duplex: `gets <key>` on the text protocol
 * and, unless `binary` is false (`-B ascii`), GET on the binary protocol.
 * Records every text line and binary key it got.
 */
function oldServer(items: ReadonlyMap<string, Held>, lines: string[], binary = true): Duplex {
  let pending = Buffer.alloc(0);
  const stream: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length > 0) {
        if (pending[0] === 0x80) {
          if (pending.length < 24) break;
          const keyLength = pending.readUInt16BE(2);
          if (pending.length < 24 + keyLength) break;
          const key = pending.toString('latin1', 24, 24 + keyLength);
          const opaque = pending.readUInt32BE(12);
          pending = pending.subarray(24 + keyLength);
          lines.push(`binary GET ${Buffer.from(key, 'latin1').toString('base64')}`);
          if (!binary) {
            stream.push('ERROR\r\n');
            continue;
          }
          const held = items.get(key);
          const response = Buffer.alloc(24 + (held ? 4 + held.value.length : 0));
          response[0] = 0x81;
          response.writeUInt16BE(held ? 0 : 1, 6);
          response.writeUInt32BE(opaque, 12);
          if (held) {
            response[4] = 4;
            response.writeUInt32BE(4 + held.value.length, 8);
            response.writeBigUInt64BE(BigInt(held.cas), 16);
            response.writeUInt32BE(held.flags, 24);
            held.value.copy(response, 28);
          }
          stream.push(response);
          continue;
        }
        const end = pending.indexOf('\r\n');
        if (end < 0) break;
        const line = pending.toString('latin1', 0, end);
        pending = pending.subarray(end + 2);
        lines.push(line);
        const [command, key] = line.split(' ');
        if (command !== 'gets' || key === undefined) {
          stream.push('ERROR\r\n');
          continue;
        }
        const held = items.get(key);
        if (held) {
          stream.push(`VALUE ${key} ${held.flags} ${held.value.length} ${held.cas}\r\n`, 'latin1');
          stream.push(Buffer.concat([held.value, Buffer.from('\r\n')]));
        }
        stream.push('END\r\n');
      }
      done();
    },
  });
  return stream;
}

async function fetchVia(
  items: Map<string, Held>,
  requests: Parameters<MetaClient['fetchItems']>[0],
  binary = true,
) {
  const lines: string[] = [];
  const client = await MetaClient.connect(async () => oldServer(items, lines, binary), { connections: 2 });
  const fetched: FetchedItem[] = [];
  const missing: string[] = [];
  try {
    const counts = await client.fetchItems(
      requests,
      (item) => {
        fetched.push({ ...item, value: Buffer.from(item.value) });
      },
      {
        clock: serverClockFrom(1_795_000_000),
        via: 'gets',
        onMissing: (request) => missing.push(request.key.toString('latin1')),
      },
    );
    return { counts, fetched, missing, lines };
  } finally {
    client.close();
  }
}

describe('classic fetch (gets) for memcached before 1.6.10', () => {
  it('reads value and flags through gets, expiry from the listing, a value holding CRLF and END intact', async () => {
    const items = new Map<string, Held>([
      ['plain', { value: Buffer.from('hello'), flags: 7, cas: 11 }],
      ['tricky', { value: Buffer.from('line\r\nEND\r\nVALUE x 0 1 2\r\n'), flags: 4_294_967_295, cas: 12 }],
      // The server sees bytes: the map holds the key as the wire carries it.
      [Buffer.from('utf8-ключ').toString('latin1'), { value: Buffer.alloc(70_000, 0xff), flags: 0, cas: 13 }],
    ]);
    const requests = [
      { key: Buffer.from('plain'), exptime: 1_795_000_900, cas: 11 },
      { key: Buffer.from('tricky'), exptime: 0, cas: 12 },
      { key: Buffer.from('utf8-ключ'), exptime: 1_795_003_600, cas: 13 },
    ];
    const { counts, fetched, missing, lines } = await fetchVia(items, requests);
    expect(counts).toMatchObject({ fetched: 3, missing: 0, unaddressable: [] });
    expect(missing).toEqual([]);
    const byKey = new Map(fetched.map((item) => [item.key.toString(), item]));
    expect(byKey.get('plain')).toMatchObject({ flags: 7, exptime: 1_795_000_900, cas: 11 });
    expect(byKey.get('plain')?.value.toString()).toBe('hello');
    expect(byKey.get('tricky')?.value.toString('latin1')).toBe('line\r\nEND\r\nVALUE x 0 1 2\r\n');
    expect(byKey.get('tricky')).toMatchObject({ flags: 4_294_967_295, exptime: 0 });
    expect(byKey.get('utf8-ключ')?.value.equals(Buffer.alloc(70_000, 0xff))).toBe(true);
    // No meta command ever reaches a server that has none.
    expect(lines.every((line) => line.startsWith('gets '))).toBe(true);
  });

  it('a key gone since the listing is a miss; keys the text protocol cannot name are read through the binary protocol', async () => {
    const spaced = Buffer.from('has space');
    const control = Buffer.from([0x01, 0x02]);
    const items = new Map<string, Held>([
      ['here', { value: Buffer.from('v'), flags: 0, cas: 5 }],
      [spaced.toString('latin1'), { value: Buffer.from('spaced value\r\n'), flags: 9, cas: 6 }],
    ]);
    const { counts, fetched, missing, lines } = await fetchVia(items, [
      { key: Buffer.from('gone'), exptime: 0, cas: 4 },
      { key: spaced, exptime: 1_795_000_500, cas: 6 },
      { key: control, exptime: 0, cas: 7 },
      { key: Buffer.from('here'), exptime: 0, cas: 5 },
    ]);
    expect(counts).toMatchObject({ fetched: 2, missing: 2, unaddressable: [] });
    expect(missing.sort()).toEqual(['\u0001\u0002', 'gone']);
    const binaryRead = fetched.find((item) => item.key.equals(spaced));
    expect(binaryRead).toMatchObject({ flags: 9, exptime: 1_795_000_500, cas: 6 });
    expect(binaryRead?.value.toString()).toBe('spaced value\r\n');
    // Never on the text protocol, where a space would split the command.
    expect(lines).toEqual([
      'gets gone',
      'gets here',
      `binary GET ${spaced.toString('base64')}`,
      `binary GET ${control.toString('base64')}`,
    ]);
  });

  it('a server without the binary protocol (-B ascii): those keys are named unaddressable', async () => {
    const spaced = Buffer.from('has space');
    const items = new Map<string, Held>([
      [spaced.toString('latin1'), { value: Buffer.from('x'), flags: 0, cas: 6 }],
    ]);
    const { counts } = await fetchVia(items, [{ key: spaced, exptime: 0, cas: 6 }], false);
    expect(counts).toMatchObject({ fetched: 0, unaddressable: [`base64:${spaced.toString('base64')}`] });
  });

  it('a value set after the listing keeps the listed cas, so the next pass sees it changed and reads it again', async () => {
    const items = new Map<string, Held>([['moved', { value: Buffer.from('newer'), flags: 0, cas: 99 }]]);
    const { fetched } = await fetchVia(items, [
      { key: Buffer.from('moved'), exptime: 1_795_000_100, cas: 42 },
    ]);
    expect(fetched[0]).toMatchObject({ cas: 42, exptime: 1_795_000_100 });
    expect(fetched[0]?.value.toString()).toBe('newer');
  });
});
