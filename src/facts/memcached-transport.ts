import type { HostConfig } from '../playbook/types.js';
import type { Transport } from '../transport/transport.js';
import { withMemcachedAuth } from './memcached-auth.js';
import { withMemcachedRoute } from './memcached-route.js';

/**
 * A host's connection as every command that talks to its memcached needs it:
 * streams go where memcached listens, and authenticate first when the playbook
 * sets `memcached.auth`.
 */
export function memcachedTransport(transport: Transport, host: HostConfig): Transport {
  return withMemcachedAuth(withMemcachedRoute(transport, host), host);
}
