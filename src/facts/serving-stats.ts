import type { Transport } from '../transport/transport.js';
import { queryMemcached } from './memcached-port.js';
import { noteApplies, type ReadsNote, readReadsNote } from './own-reads.js';

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
  /**
   * Clients' get_hits / (get_hits + get_misses): counted from memplay's note (own-reads.ts)
   * when memplay read this instance, else since its start; null before the first get.
   */
  readonly hitRatio: number | null;
  /** Unix time the hit ratio counts from, when memplay's own reads were left out; null: since the start. */
  readonly hitRatioSince: number | null;
  readonly evictions: number;
  /** curr_connections: memcached counts its listening socket(s) and this probe too. */
  readonly connections: number;
}

export function servingStatsFrom(
  stats: ReadonlyMap<string, string>,
  note: ReadsNote | null = null,
): ServingStats {
  const number = (name: string) => Number(stats.get(name) ?? 0);
  const applies = note !== null && noteApplies(note, stats);
  const clientHits = number('get_hits') - (applies ? note.getHits : 0);
  const clientMisses = number('get_misses') - (applies ? note.getMisses : 0);
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
    hitRatio: clientHits + clientMisses === 0 ? null : clientHits / (clientHits + clientMisses),
    hitRatioSince: applies ? note.at : null,
    evictions: number('evictions'),
    connections: number('curr_connections'),
  };
}

/** null when nothing answers on the port: not serving is a fact, not an error. */
export async function servingStats(
  transport: Transport,
  port: number,
  prefix: string,
): Promise<ServingStats | null> {
  const [stats, note] = await Promise.all([
    queryMemcached(transport, port, (client) => client.stats()),
    readReadsNote(transport, prefix),
  ]);
  return stats ? servingStatsFrom(stats, note) : null;
}
