import { describe, expect, it } from 'vitest';
import { queryMemcached } from '../../../src/facts/memcached-port.js';
import { sh } from '../../../src/transport/quote.js';
import { answers, RecordingTransport, UnscriptedCommand } from '../../support/recording-transport.js';

// The fixtures' transport must fail loudly where a plan does something the
// fixture did not list, and its memcached must speak enough for the real client.

describe('recording transport', () => {
  it('answers the first matching script entry and records the command text', async () => {
    const transport = new RecordingTransport({ run: [answers(/^uname/, 'x86_64\n'), answers(/./, 'other')] });
    expect(await transport.run(sh`uname -m`)).toEqual({ code: 0, stdout: 'x86_64\n', stderr: '' });
    expect(transport.commands).toEqual(['uname -m']);
  });

  it('throws on a command the script does not list, with its text', async () => {
    const transport = new RecordingTransport();
    await expect(transport.run(sh`rm -rf ${'/opt/memcached/1.6.9'}`)).rejects.toThrow(UnscriptedCommand);
    await expect(transport.run(sh`true`)).rejects.toThrow(/does not script this command:\ntrue/);
    expect(transport.unscripted).toEqual(['rm -rf /opt/memcached/1.6.9', 'true']);
  });

  it('refuses TCP like a closed port unless the port is scripted', async () => {
    const transport = new RecordingTransport();
    await expect(transport.openTcp(11211)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(await queryMemcached(transport, 11211, (c) => c.version())).toBeNull();
    expect(transport.tcp).toEqual([
      { port: 11211, address: undefined, accepted: false },
      { port: 11211, address: undefined, accepted: false },
    ]);
  });

  it('a scripted memcached answers version, stats and stats settings to the real client', async () => {
    const transport = new RecordingTransport({
      tcp: {
        11211: { version: '1.6.18', stats: { curr_items: 5 }, settings: { memory_file: '/dev/shm/m' } },
      },
    });
    const read = await queryMemcached(transport, 11211, async (c) => ({
      version: await c.version(),
      items: (await c.stats()).get('curr_items'),
      file: (await c.statsSettings()).get('memory_file'),
      other: await c.stats('slabs').catch((e: Error) => e.message),
    }));
    expect(read).toEqual({
      version: '1.6.18',
      items: '5',
      file: '/dev/shm/m',
      other: expect.stringContaining('ERROR'),
    });
    expect(transport.memcachedRequests).toEqual(['version', 'stats', 'stats settings', 'stats slabs']);
  });
});
