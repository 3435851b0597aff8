import type { HostConfig } from '../playbook/types.js';
import { sh } from '../transport/quote.js';
import type { Transport } from '../transport/transport.js';
import { queryMemcached } from './memcached-port.js';

// What decides whether a host can be restarted warm: the running memcached's
// memory file (`stats settings`), the command line it was started with, and
// whether a `<file>.meta` is waiting for the next start. Read-only.

export interface WarmRestartFacts {
  /** `memory_file` from `stats settings`; null when nothing answers or it has none. */
  readonly memoryFile: string | null;
  /** The running instance's argv from /proc (pidfile manager); null when unknown. */
  readonly runningArgs: readonly string[] | null;
  /** Whether `<file>.meta` exists for the memory file the new start arguments name. */
  readonly metaWaiting: boolean;
}

// $1 pidfile ('' for systemd), $2 the memory file of the new arguments ('' for none).
const probeScript = `
pidfile=$1; file=$2
if [ -n "$pidfile" ] && [ -r "$pidfile" ]; then
  pid=$(cat "$pidfile" 2>/dev/null)
  case "$pid" in ''|*[!0-9]*) ;; *) [ -r /proc/"$pid"/cmdline ] && tr '\\0' '\\n' < /proc/"$pid"/cmdline | sed 's/^/arg\\t/';; esac
fi
if [ -n "$file" ] && [ -e "$file.meta" ]; then printf 'meta\\n'; fi
exit 0
`;

export async function gatherWarmRestartFacts(
  host: HostConfig,
  transport: Transport,
  newMemoryFile: string | undefined,
): Promise<WarmRestartFacts> {
  const service = host.memcached.service;
  const pidfile = service.manager === 'pidfile' ? service.pidfile : '';
  const [probe, settings] = await Promise.all([
    transport.run(sh`sh -c ${probeScript} memplay-warm-probe ${pidfile} ${newMemoryFile ?? ''}`),
    queryMemcached(transport, host.memcached.port, (client) => client.stats('settings')),
  ]);
  const lines = probe.code === 0 ? probe.stdout.split('\n') : [];
  const args = lines.filter((line) => line.startsWith('arg\t')).map((line) => line.slice(4));
  const memoryFile = settings?.get('memory_file');
  return {
    memoryFile: memoryFile && memoryFile !== '(null)' ? memoryFile : null,
    runningArgs: args.length > 0 ? args : null,
    metaWaiting: lines.includes('meta'),
  };
}
