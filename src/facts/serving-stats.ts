import type { Transport } from '../transport/transport.js';
import { queryMemcached } from './memcached-port.js';

// What the serving memcached says about itself (`stats`), for `memplay facts`.
// Read-only: `stats` changes no counter a client would see.

export interface ServingStats {
  readonly version: string;
  /** Seconds since this instance started. */
  readonly uptime: number;
  /** curr_items. */
  readonly items: number;
  /** Bytes the items take in memory (`bytes`). */
  readonly bytes: number;
  /** The memory limit (-m), bytes. */
  readonly limitBytes: number;
  readonly getHits: number;
  readonly getMisses: number;
  /** get_hits / (get_hits + get_misses); null before the first get. */
  readonly hitRatio: number | null;
  readonly evictions: number;
  /** curr_connections: memcached counts its listening socket(s) and this probe too. */
  readonly connections: number;
}

export function servingStatsFrom(stats: ReadonlyMap<string, string>): ServingStats {
  const number = (name: string) => Number(stats.get(name) ?? 0);
  const getHits = number('get_hits');
  const getMisses = number('get_misses');
  return {
    version: stats.get('version') ?? '',
    uptime: number('uptime'),
    items: number('curr_items'),
    bytes: number('bytes'),
    limitBytes: number('limit_maxbytes'),
    getHits,
    getMisses,
    hitRatio: getHits + getMisses === 0 ? null : getHits / (getHits + getMisses),
    evictions: number('evictions'),
    connections: number('curr_connections'),
  };
}

/** null when nothing answers on the port: not serving is a fact, not an error. */
export async function servingStats(transport: Transport, port: number): Promise<ServingStats | null> {
  const stats = await queryMemcached(transport, port, (client) => client.stats());
  return stats ? servingStatsFrom(stats) : null;
}
