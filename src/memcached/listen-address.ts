// Where a memcached listens, read from its arguments: the `-l` list and `-p`.
// Fleets that serve remote clients bind memcached to the host's own address
// (`-l 10.0.0.5`), where 127.0.0.1 answers nothing: memplay must dial what
// memcached really listens on, or it takes a running cache for an empty host.

// The transport writes addresses the same way (it tunnels to them): defined there, below this layer.
export { addressAndPort } from '../transport/address.js';

export const DEFAULT_MEMCACHED_PORT = 11211;

export interface ListenSettings {
  /** The `-l` values in order, each comma-separated list split; empty: every interface. */
  readonly interfaces: readonly string[];
  /** `-p`; memcached's default when absent. 0 turns TCP off. */
  readonly port: number;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

/**
 * A short or long option of memcached's command line at `index`, as getopt reads
 * it (`-l X`, `-lX`, `--listen X`, `--listen=X`), and how many arguments it and its
 * value take. `takesValue: false`: a flag (`-d`), with an empty value.
 */
export function optionAt(
  args: readonly string[],
  index: number,
  short: string,
  long: string,
  takesValue = true,
): { value: string; taken: number } | undefined {
  const arg = args[index] as string;
  if (!takesValue) return arg === short || arg === long ? { value: '', taken: 1 } : undefined;
  if (arg === short || arg === long) {
    const value = args[index + 1];
    return value === undefined ? undefined : { value, taken: 2 };
  }
  if (arg.startsWith(`${long}=`)) return { value: arg.slice(long.length + 1), taken: 1 };
  // getopt: `-l127.0.0.2` is `-l 127.0.0.2`.
  if (arg.startsWith(short) && arg.length > short.length && !arg.startsWith('--')) {
    return { value: arg.slice(short.length), taken: 1 };
  }
  return undefined;
}

/**
 * `-l`/`--listen` and `-p`/`--port` as memcached reads them: several `-l` add to
 * the list (memcached joins them with commas), the last `-p` wins.
 */
export function listenSettings(args: readonly string[]): ListenSettings {
  const interfaces: string[] = [];
  let port = DEFAULT_MEMCACHED_PORT;
  for (let i = 0; i < args.length; ) {
    const listen = optionAt(args, i, '-l', '--listen');
    if (listen) {
      interfaces.push(...listen.value.split(',').filter((part) => part !== ''));
      i += listen.taken;
      continue;
    }
    const portOption = optionAt(args, i, '-p', '--port');
    if (portOption && /^\d+$/.test(portOption.value)) {
      port = Number(portOption.value);
      i += portOption.taken;
      continue;
    }
    i += 1;
  }
  return { interfaces, port };
}

/** `0.0.0.0`, `*` or `::`: memcached listens on every interface. */
export function isEveryInterface(host: string): boolean {
  return host === '0.0.0.0' || host === '*' || host === '::';
}

/** `10.0.0.5:11311` → `10.0.0.5`, `[::1]:11311` → `::1`, `::1` unchanged. */
export function interfaceHost(entry: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(entry);
  if (bracketed) return bracketed[1] as string;
  const withPort = /^([^:]+):\d+$/.exec(entry);
  return withPort ? (withPort[1] as string) : entry;
}

/**
 * The addresses to dial, from the host itself, to reach a memcached listening on
 * `interfaces`, best first: loopback when memcached listens there (or on every
 * interface), else each address in the order given.
 */
export function dialAddresses(interfaces: readonly string[]): string[] {
  if (interfaces.length === 0) return ['127.0.0.1'];
  const hosts = interfaces.map(interfaceHost).map((host) => {
    if (isEveryInterface(host)) return host === '::' ? '::1' : '127.0.0.1';
    return host === 'localhost' ? '127.0.0.1' : host;
  });
  const unique = [...new Set(hosts)];
  return [...unique.filter((host) => LOOPBACK.has(host)), ...unique.filter((host) => !LOOPBACK.has(host))];
}
