import { readFileSync } from 'node:fs';
import { MemcachedTlsError, plainTextReply, startTls, type TlsMaterial } from '../memcached/tls-stream.js';
import type { HostConfig, MemcachedTlsSettings } from '../playbook/types.js';
import type { Transport } from '../transport/transport.js';

// With `memcached.tls`, every stream to the host's memcached port is a TLS
// connection inside the SSH tunnel. Wrapping it where the stream is opened means
// every task, fact probe and wait (version checks, backup and its metadump
// connections, restore, verify and its gates, rollback) speaks TLS without
// knowing about it; ASCII auth, when set, runs inside the TLS connection.

/** The controller files `memcached.tls` names, read (preflight checked them: tls-files.ts). Never printed. */
export function readTlsMaterial(settings: MemcachedTlsSettings): TlsMaterial {
  return {
    ca: readFileSync(settings.caFile),
    ...(settings.certFile && settings.keyFile
      ? { cert: readFileSync(settings.certFile), key: readFileSync(settings.keyFile) }
      : {}),
    serverName: settings.serverName,
  };
}

/** `transport`, with every stream to the memcached port speaking TLS. */
export function withMemcachedTls(
  transport: Transport,
  host: HostConfig,
  material: (settings: MemcachedTlsSettings) => TlsMaterial = readTlsMaterial,
): Transport {
  const settings = host.memcached.tls;
  if (!settings) return transport;
  const { port } = host.memcached;
  let loaded: TlsMaterial | undefined;
  const openTls = async (to: number, address?: string) => {
    const stream = await transport.openTcp(to, address);
    if (to !== port) return stream;
    loaded ??= material(settings);
    try {
      return await startTls(stream, loaded);
    } catch (error) {
      if (error instanceof MemcachedTlsError) {
        throw new MemcachedTlsError(
          `${host.name}: port ${port}: ${error.message} — check memcached.tls (ca_file, cert_file, server_name ` +
            `${settings.serverName}) and the certificates memcached was started with (-o ssl_chain_cert, ssl_ca_cert)`,
        );
      }
      // Not TLS, and not a certificate: a memcached answering in plain text is told apart from nothing there.
      const plain = await plainTextReply(await transport.openTcp(to, address)).catch(() => null);
      if (plain !== null && /^(VERSION |CLIENT_ERROR|SERVER_ERROR|ERROR)/.test(plain)) {
        throw new MemcachedTlsError(
          `${host.name}: port ${port} serves plain TCP, not TLS (it answers ${plain.slice(0, 40)} without TLS) — ` +
            'memcached.tls is set: start memcached with -Z (in memcached.args), or remove memcached.tls',
        );
      }
      throw error;
    }
  };
  return new Proxy(transport, {
    get(target, property) {
      if (property === 'openTcp') return openTls;
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
