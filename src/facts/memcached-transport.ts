import type { HostConfig } from '../playbook/types.js';
import type { Transport } from '../transport/transport.js';
import { withMemcachedAuth } from './memcached-auth.js';
import { withMemcachedRoute } from './memcached-route.js';
import { withMemcachedTls } from './memcached-tls.js';

/**
 * A host's connection as every command that talks to its memcached needs it:
 * streams go where memcached listens, speak TLS when the playbook sets
 * `memcached.tls`, and authenticate first (inside TLS) when it sets `memcached.auth`.
 */
export function memcachedTransport(transport: Transport, host: HostConfig): Transport {
  return withMemcachedAuth(withMemcachedTls(withMemcachedRoute(transport, host), host), host);
}
