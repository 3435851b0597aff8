import { connect, type Socket } from 'node:net';
import type { StreamFactory } from '../../src/memcached/protocol-probe.js';

/** Plain TCP to a lab memcached on loopback: no SSH in the way. Its own module, so the backup child (whose RSS is measured) loads nothing else. */
export function directFactory(port: number): StreamFactory {
  return () =>
    new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', reject);
    });
}
