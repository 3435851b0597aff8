import { connect } from 'node:net';

const loopback = '127.0.0.1';

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function isUp(port: number, timeoutMs = 500, host = loopback): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (up: boolean) => {
      socket.destroy();
      resolve(up);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Sends one text-protocol command and collects the reply up to the line `until`
 * matches; null if the port refuses, times out or closes first.
 */
function ask(
  port: number,
  command: string,
  until: RegExp,
  timeoutMs: number,
  host: string,
): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let reply = '';
    const done = (answer: string | null) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, () => done(null));
    socket.once('error', () => done(null));
    socket.once('close', () => done(null));
    socket.once('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (until.test(reply)) done(reply);
    });
  });
}

/** The version memcached on 127.0.0.1:port (or `host`) answers (`1.6.18`), or null if nothing answers. */
export async function memcachedVersion(
  port: number,
  timeoutMs = 1_000,
  host = loopback,
): Promise<string | null> {
  const reply = await ask(port, 'version', /\r\n/, timeoutMs, host);
  const match = reply?.match(/^VERSION (\S+)\r\n/);
  return match?.[1] ?? null;
}

/** `stats` as a name → value map, or null if nothing answers. */
export async function memcachedStats(
  port: number,
  timeoutMs = 2_000,
  group?: 'settings' | 'slabs' | 'items',
  host = loopback,
): Promise<Record<string, string> | null> {
  const reply = await ask(port, group ? `stats ${group}` : 'stats', /(^|\r\n)END\r\n$/, timeoutMs, host);
  if (reply === null) return null;
  const stats: Record<string, string> = {};
  for (const line of reply.split('\r\n')) {
    const match = line.match(/^STAT (\S+) (.*)$/);
    if (match) stats[match[1] as string] = match[2] as string;
  }
  return stats;
}
