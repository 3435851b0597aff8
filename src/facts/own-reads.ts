import { sh } from '../transport/quote.js';
import type { Transport } from '../transport/transport.js';
import { queryMemcached } from './memcached-port.js';

// memplay reads a cache too: the backup's full pass, verify's sample and the
// performance gate's load are gets, and memcached counts them in get_hits and
// get_misses like a client's (no meta flag keeps a get out of those counters).
// So that `memplay facts` reports the clients' hit ratio, not one memplay made,
// memplay notes on the host, when it is done with an instance, the instance's
// counters at that moment: `<prefix>/memplay-reads.json`. facts counts from
// there, for the instance that note was written for only (its start time), and
// takes nothing in the file on trust but three numbers of the right shape.

export interface ReadsNote {
  /** Unix time the instance started (`time - uptime`): a note for another instance is ignored. */
  readonly started: number;
  readonly getHits: number;
  readonly getMisses: number;
  /** Unix time (the instance's clock) the note was written: the hit ratio counts from here. */
  readonly at: number;
}

export function readsNotePath(prefix: string): string {
  return `${prefix}/memplay-reads.json`;
}

export function readsNoteFrom(stats: ReadonlyMap<string, string>): ReadsNote {
  const number = (name: string) => Number(stats.get(name) ?? 0);
  return {
    started: number('time') - number('uptime'),
    getHits: number('get_hits'),
    getMisses: number('get_misses'),
    at: number('time'),
  };
}

/** Writes the note (atomically: a new file renamed over the old one). */
export async function writeReadsNote(transport: Transport, prefix: string, note: ReadsNote): Promise<void> {
  const path = readsNotePath(prefix);
  await transport.run(
    sh`printf '%s\\n' ${JSON.stringify(note)} > ${`${path}.memplay-new`} && mv -f ${`${path}.memplay-new`} ${path}`,
  );
}

/** The note, when it is one memplay wrote (four non-negative integers); null otherwise. */
export function parseReadsNote(text: string): ReadsNote | null {
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    const fields = ['started', 'getHits', 'getMisses', 'at'] as const;
    if (!fields.every((name) => Number.isSafeInteger(parsed[name]) && (parsed[name] as number) >= 0))
      return null;
    return {
      started: parsed.started as number,
      getHits: parsed.getHits as number,
      getMisses: parsed.getMisses as number,
      at: parsed.at as number,
    };
  } catch {
    return null;
  }
}

export async function readReadsNote(transport: Transport, prefix: string): Promise<ReadsNote | null> {
  const read = await transport.run(sh`cat ${readsNotePath(prefix)} 2>/dev/null`);
  return read.code === 0 ? parseReadsNote(read.stdout.trim()) : null;
}

/** The note applies to the instance whose `stats` these are (started in the same second, give or take one). */
export function noteApplies(note: ReadsNote, stats: ReadonlyMap<string, string>): boolean {
  const now = readsNoteFrom(stats);
  return (
    Math.abs(note.started - now.started) <= 1 &&
    now.getHits >= note.getHits &&
    now.getMisses >= note.getMisses
  );
}

/** Notes the instance's get counters as memplay leaves it; a note that fails is only a note. */
export async function noteOwnReads(transport: Transport, port: number, prefix: string): Promise<void> {
  const stats = await queryMemcached(transport, port, (client) => client.stats());
  if (stats) await writeReadsNote(transport, prefix, readsNoteFrom(stats)).catch(() => {});
}
