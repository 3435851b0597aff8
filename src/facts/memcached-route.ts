import { addressAndPort, dialAddresses, listenSettings } from '../memcached/listen-address.js';
import type { HostConfig } from '../playbook/types.js';
import type { Transport } from '../transport/transport.js';

// Every connection memplay opens to a memcached port (facts, backup, restore,
// the side port of a handover, waits) goes where that memcached listens on the
// host. The playbook's `memcached.args` say where a build memplay starts will
// listen; the running instance's own command line (read by the fact probe) says
// where the old one does, which can differ. Both are tried, best first, and the
// address that answered is tried first next time.

const learn = Symbol('memplay.learnListenAddresses');

interface Learning {
  [learn](port: number, addresses: readonly string[]): void;
}

/** Where memplay dials `port` on this host, playbook addresses first. */
export function playbookDialAddresses(host: HostConfig): string[] {
  return dialAddresses(listenSettings(host.memcached.args).interfaces);
}

/** `transport`, with each TCP stream opened where memcached listens rather than on 127.0.0.1 alone. */
export function withMemcachedRoute(transport: Transport, host: HostConfig): Transport {
  const fromPlaybook = playbookDialAddresses(host);
  const learned = new Map<number, string[]>();
  const answered = new Map<number, string>();
  const candidates = (port: number) => [
    ...new Set([
      ...(answered.has(port) ? [answered.get(port) as string] : []),
      ...fromPlaybook,
      ...(learned.get(port) ?? []),
    ]),
  ];
  const openTcp = async (port: number, address?: string) => {
    if (address !== undefined) return transport.openTcp(port, address);
    const tried = candidates(port);
    let firstError: unknown;
    for (const candidate of tried) {
      try {
        const stream = await transport.openTcp(port, candidate);
        answered.set(port, candidate);
        return stream;
      } catch (error) {
        firstError ??= error;
      }
    }
    if (tried.length === 1) throw firstError;
    throw new Error(
      `${host.name}: nothing accepts a connection on ${tried.map((a) => addressAndPort(a, port)).join(' or ')} ` +
        `(${(firstError as Error).message})`,
    );
  };
  return new Proxy(transport, {
    get(target, property) {
      if (property === 'openTcp') return openTcp;
      if (property === learn) {
        return (port: number, addresses: readonly string[]) => {
          learned.set(port, [...new Set([...(learned.get(port) ?? []), ...addresses])]);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Tells a routed transport that memcached on `port` listens on `addresses` too; a no-op on a bare one. */
export function learnListenAddresses(transport: Transport, port: number, addresses: readonly string[]): void {
  (transport as Partial<Learning>)[learn]?.(port, addresses);
}
