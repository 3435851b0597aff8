import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatherFacts } from '../../src/facts/host-facts.js';
import { RecordingTransport } from '../support/recording-transport.js';
import { fixturePlaybook } from '../support/task-context.js';

// A loaded host's memcached is slow, not gone: at 500 hosts, with 50 restoring at once,
// three healthy hosts missed the version query's 3 s right after their restore, and
// verify rolled them back as "nothing answers". A real TCP server answers here after
// 3.5 s; the probe's answer says whether a memcached process of that port is alive.

/** Answers `version` after `delayMs`, on every connection. */
function slowMemcached(delayMs: number): Server {
  return createServer((socket: Socket) => {
    socket.on('data', (data) => {
      if (!data.toString().startsWith('version')) return;
      setTimeout(() => socket.writable && socket.write('VERSION 1.6.38\r\n'), delayMs);
    });
    socket.on('error', () => {});
  });
}

/** A transport whose commands are scripted and whose tunnels reach a real loopback port. */
class TunnelToLoopback extends RecordingTransport {
  constructor(
    private readonly reach: number,
    probeOutput: string,
  ) {
    super({ run: [{ match: / memplay-probe /, result: { stdout: probeOutput } }] });
  }
  override async openTcp(): Promise<Duplex> {
    const socket = connect(this.reach, '127.0.0.1');
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    return socket;
  }
}

const playbook = fixturePlaybook();
const host = playbook.hosts[0];
if (!host) throw new Error('the fixture playbook has no host');
const port = host.memcached.port;
const alive = `current\t1.6.38\npid\t4242\narg\t/opt/memcached/current/bin/memcached\narg\t-p\narg\t${port}\n`;

describe('the version a host serves, on a slow host', () => {
  let server: Server;
  let reach: number;
  beforeAll(async () => {
    server = slowMemcached(3500);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    reach = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('a live memcached of the port that misses the first 3 s is asked again, and its version counts', async () => {
    const facts = await gatherFacts(host, new TunnelToLoopback(reach, alive));
    expect(facts.runningVersion).toBe('1.6.38');
  }, 30_000);

  it('without a live memcached process the first silence stands: not serving', async () => {
    const transport = new TunnelToLoopback(reach, 'current\t1.6.38\n');
    const started = Date.now();
    const facts = await gatherFacts(host, transport);
    expect(facts.runningVersion).toBeNull();
    expect(Date.now() - started).toBeLessThan(3400);
  }, 30_000);
});
