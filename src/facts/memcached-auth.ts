import { authenticate, MemcachedAuthError, type MemcachedCredentials } from '../memcached/ascii-auth.js';
import type { HostConfig } from '../playbook/types.js';
import type { Transport } from '../transport/transport.js';

// With `memcached.auth`, every connection to the host's memcached port must
// authenticate before its first command. Doing it where the connection is
// opened means every task, fact probe and wait (version checks, backup, the
// metadump's own connections, restore, verify, rollback) gets an authenticated
// connection without knowing about it.

/** The credentials `memcached.auth` names, read from `environment`; undefined without `auth`. */
export function memcachedCredentials(
  host: HostConfig,
  environment: NodeJS.ProcessEnv = process.env,
): MemcachedCredentials | undefined {
  const auth = host.memcached.auth;
  if (!auth) return undefined;
  return {
    user: environment[auth.userVariable] ?? '',
    password: environment[auth.passwordVariable] ?? '',
  };
}

/** `transport`, with every TCP stream to the memcached port authenticated first. */
export function withMemcachedAuth(
  transport: Transport,
  host: HostConfig,
  environment: NodeJS.ProcessEnv = process.env,
): Transport {
  const credentials = memcachedCredentials(host, environment);
  const auth = host.memcached.auth;
  if (!credentials || !auth) return transport;
  const { port } = host.memcached;
  return new Proxy(transport, {
    get(target, property) {
      if (property === 'openTcp') {
        return async (to: number, address?: string) => {
          const stream = await target.openTcp(to, address);
          if (to !== port) return stream;
          return authenticate(stream, credentials).catch((error: unknown) => {
            if (!(error instanceof MemcachedAuthError)) throw error;
            throw new MemcachedAuthError(
              `${host.name}: ${error.message} on port ${port}, with the user and password from ` +
                `${auth.userVariable} and ${auth.passwordVariable} — check those variables, memcached.auth, ` +
                'and the authfile memcached was started with (-Y)',
            );
          });
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
