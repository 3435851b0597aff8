import type { Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MetaClient } from './meta-client.js';

// Follows every key a client touches on one memcached, through its log stream
// (`watch fetchers mutations`, in every 1.6 release):
//   item_store  every set/add/replace/append/prepend/cas, by key;
//   item_get    every read *and* every delete, incr, decr and touch: all of them
//               look the key up through do_item_get, which logs the lookup.
// A delete therefore never goes unseen, whether it hits or misses and whatever
// the protocol (binary deletes are not in 1.6.38's `watch deletions`); the price
// is that a plain get cannot be told from a delete, so a touched key is
// re-checked or treated as changed, never as unchanged.
//
// memplay's own connections are told apart by their server-side fd (`cfd=`):
// each is made to look up a marker key once and the watch stream names its fd.
// Ordering: memcached's logger thread collects every worker's buffer in turn, so
// an event logged before marker A reaches the stream before a marker logged
// after A was seen twice over (see barrier()). When memcached exits after
// SIGUSR1 it stops its workers before the logger, whose last round still writes
// to the stream: reading to end-of-stream then sees every client operation the
// old instance ever acknowledged.

/** What clients did to a key, as bits. */
export const TOUCH_STORE = 1;
/** A lookup that found the key: a get, or a delete/incr/decr/touch that hit. */
export const TOUCH_FOUND = 2;
/** A lookup that did not: a get or a delete that missed (nothing was there). */
export const TOUCH_MISSED = 4;

export class WatchUnavailable extends Error {
  override name = 'WatchUnavailable';
}

const markerPrefix = 'memplay:watch-marker:';
/** What of a marker survives memcached's uriencode in the stream ('-' is kept, ':' is not). */
const markerInLog = 'watch-marker';

/**
 * The `cfd=` of a watch line, read without parsing the rest (NaN if it has
 * none). Keys are uriencoded in the stream, so ' cfd=' can only be the field.
 */
export function loggedCfd(line: string): number {
  const at = line.indexOf(' cfd=');
  if (at < 0) return Number.NaN;
  let cfd = 0;
  let i = at + 5;
  for (; i < line.length; i++) {
    const digit = line.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) break;
    cfd = cfd * 10 + digit;
  }
  return i === at + 5 ? Number.NaN : cfd;
}

/** memcached's uriencode, undone: the key's exact bytes. */
export function decodeLoggedKey(encoded: string): Buffer {
  if (!encoded.includes('%')) return Buffer.from(encoded, 'latin1');
  const bytes: number[] = [];
  for (let i = 0; i < encoded.length; i++) {
    const ch = encoded.charCodeAt(i);
    if (ch === 0x25 && i + 2 < encoded.length && /^[0-9A-Fa-f]{2}$/.test(encoded.slice(i + 1, i + 3))) {
      bytes.push(Number.parseInt(encoded.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(ch & 0xff);
  }
  return Buffer.from(bytes);
}

export interface LoggedTouch {
  readonly key: Buffer;
  readonly cfd: number;
  readonly touch: number;
}

/** One line of the watch stream: a key event, a count of entries the server dropped, or neither. */
export function parseWatchLine(
  line: string,
): { kind: 'touch'; event: LoggedTouch } | { kind: 'skipped'; count: number } | { kind: 'other' } {
  if (line.startsWith('skipped=')) {
    const count = Number(line.slice(8));
    return { kind: 'skipped', count: Number.isFinite(count) ? count : 1 };
  }
  const fields = new Map<string, string>();
  for (const part of line.split(' ')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq), part.slice(eq + 1));
  }
  const type = fields.get('type');
  const key = fields.get('key');
  const cfd = Number(fields.get('cfd'));
  if (key === undefined || !Number.isInteger(cfd)) return { kind: 'other' };
  if (type === 'item_store') {
    // Only a store that changed the item counts: not_stored/exists/not_found changed nothing.
    if (fields.get('status') !== 'stored') return { kind: 'other' };
    return { kind: 'touch', event: { key: decodeLoggedKey(key), cfd, touch: TOUCH_STORE } };
  }
  if (type === 'item_get') {
    const touch = fields.get('status') === 'found' ? TOUCH_FOUND : TOUCH_MISSED;
    return { kind: 'touch', event: { key: decodeLoggedKey(key), cfd, touch } };
  }
  return { kind: 'other' };
}

/**
 * The keys clients touched on one instance, from the moment the watch began.
 * `take()` hands over what was seen so far and starts a fresh set.
 */
export class ChangeWatch {
  private touched = new Map<string, number>();
  private readonly own = new Set<number>();
  private readonly markers = new Map<string, (cfd: number) => void>();
  private buffered = '';
  private markerSeq = 0;
  private endedFlag = false;
  /** Entries memcached dropped because the stream fell behind: keys that changed unseen. */
  skipped = 0;
  readonly ended: Promise<void>;

  private constructor(
    private readonly stream: Duplex,
    private readonly runId: string,
  ) {
    this.ended = new Promise((resolve) => {
      const done = () => {
        this.endedFlag = true;
        resolve();
      };
      stream.on('close', done);
      stream.on('end', done);
      stream.on('error', done);
    });
  }

  /**
   * Opens the watch on a fresh connection; throws WatchUnavailable when memcached
   * refuses it. `fetchers` alone follows lookups (gets, deletes, incr/decr,
   * touch) without memplay's own stores: a restore's flood of store entries
   * would overrun memcached's per-thread log buffers, which drop entries silently.
   */
  static async open(
    connect: () => Promise<Duplex>,
    kinds: 'fetchers mutations' | 'fetchers' = 'fetchers mutations',
  ): Promise<ChangeWatch> {
    const stream = await connect();
    const watch = new ChangeWatch(stream, Math.random().toString(36).slice(2, 10));
    let timer: NodeJS.Timeout | undefined;
    const first = await new Promise<string>((resolve, reject) => {
      let got = '';
      const onData = (chunk: Buffer) => {
        got += chunk.toString('latin1');
        const end = got.indexOf('\r\n');
        if (end < 0) return;
        stream.off('data', onData);
        const rest = got.slice(end + 2);
        resolve(got.slice(0, end));
        if (rest) watch.receive(rest);
        stream.on('data', (more: Buffer) => watch.receive(more.toString('latin1')));
      };
      // Through an SSH tunnel a memcached that dies shows as the channel's end: its
      // close waits for ours, so waiting for 'close' alone hung the delta pass.
      const closed = () => reject(new WatchUnavailable('memcached closed the watch connection'));
      timer = setTimeout(
        () => reject(new WatchUnavailable('memcached did not answer the watch command within 10 s')),
        10_000,
      );
      stream.on('data', onData);
      stream.once('error', reject);
      stream.once('close', closed);
      stream.once('end', closed);
      stream.write(`watch ${kinds}\r\n`);
    })
      .catch((error: unknown) => {
        stream.destroy();
        throw error;
      })
      .finally(() => clearTimeout(timer));
    if (first !== 'OK') {
      stream.destroy();
      throw new WatchUnavailable(`memcached answered watch with ${first.slice(0, 120)}`);
    }
    return watch;
  }

  get isEnded(): boolean {
    return this.endedFlag;
  }

  private receive(text: string): void {
    this.buffered += text;
    let start = 0;
    for (;;) {
      const end = this.buffered.indexOf('\n', start);
      if (end < 0) break;
      const line = this.buffered.slice(start, this.buffered[end - 1] === '\r' ? end - 1 : end);
      start = end + 1;
      this.line(line);
    }
    this.buffered = this.buffered.slice(start);
  }

  private line(line: string): void {
    // memplay's own lookups are most of the stream in a restore (every `ms` of
    // add mode logs one): dropped on their fd alone, before the line is parsed
    // and its key decoded, which cost 1.1 s of the controller's CPU per 100k items.
    if (this.own.size > 0 && this.own.has(loggedCfd(line)) && !line.includes(markerInLog)) return;
    const parsed = parseWatchLine(line);
    if (parsed.kind === 'skipped') {
      this.skipped += parsed.count;
      return;
    }
    if (parsed.kind !== 'touch') return;
    const { event } = parsed;
    const id = event.key.toString('latin1');
    if (id.startsWith(markerPrefix)) {
      const resolve = this.markers.get(id);
      if (resolve) {
        this.markers.delete(id);
        resolve(event.cfd);
      }
      return;
    }
    if (this.own.has(event.cfd)) return;
    this.touched.set(id, (this.touched.get(id) ?? 0) | event.touch);
  }

  private nextMarker(): string {
    return `${markerPrefix}${this.runId}:${this.markerSeq++}`;
  }

  /** Waits until the stream shows a lookup of `marker`; resolves with the fd it came from. */
  private awaitMarker(marker: string, timeoutMs: number): Promise<number> {
    const seen = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.markers.delete(marker);
        reject(new WatchUnavailable(`the watch stream did not show marker ${marker} within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.markers.set(marker, (cfd) => {
        clearTimeout(timer);
        resolve(cfd);
      });
      void this.ended.then(() => {
        if (!this.markers.has(marker)) return;
        clearTimeout(timer);
        this.markers.delete(marker);
        reject(new WatchUnavailable('the watched memcached closed the stream'));
      });
    });
    // Callers send the marker's lookup after this; when that lookup fails first (the
    // watched memcached was killed), the caller throws and never awaits this promise,
    // whose rejection then crashed the run (exit 1, no event) as an unhandled one.
    // Whoever does await it still gets the rejection.
    seen.catch(() => {});
    return seen;
  }

  /**
   * Every connection of `client` is memplay's own: its lookups and stores are not
   * client changes. `client` must stay open as long as the watch runs: memcached
   * gives a closed connection's fd to the next one that connects — a client's —
   * whose changes would then be taken for memplay's.
   */
  async ignoreConnectionsOf(client: MetaClient, timeoutMs = 5000): Promise<void> {
    const markers = Array.from({ length: client.connectionCount }, () => this.nextMarker());
    const seen = markers.map((marker) => this.awaitMarker(marker, timeoutMs));
    await client.lookUpOnEachConnection(markers);
    for (const cfd of await Promise.all(seen)) this.own.add(cfd);
  }

  /**
   * Returns once every client operation memcached logged before the call is in
   * what take() returns. Three markers one after another: an event logged before
   * the first is written by the logger at the latest in the round after the one
   * that wrote the first marker, and the third marker is logged after that round.
   */
  async barrier(client: MetaClient, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 3; i++) await this.markerSeen(client, deadline);
  }

  /**
   * One marker through the stream. memcached drops log entries when a worker's
   * buffer is full (a restore's burst), the marker's too: one not seen within a
   * second is followed by another, and any of them counts — each was looked up
   * after the previous step of the barrier was seen.
   */
  private async markerSeen(client: MetaClient, deadline: number): Promise<void> {
    const sent: Array<Promise<number>> = [];
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new WatchUnavailable(`the watch stream showed none of ${sent.length} markers in time`);
      }
      const marker = this.nextMarker();
      sent.push(this.awaitMarker(marker, left));
      await client.lookUpOnEachConnection([marker]);
      const retry = sleep(Math.min(1000, left), 'retry' as const);
      const outcome = await Promise.race([Promise.any(sent).then(() => 'seen' as const), retry]).catch(
        () => 'failed' as const,
      );
      if (outcome === 'seen') return;
      if (outcome === 'failed' && this.endedFlag)
        throw new WatchUnavailable('the watched memcached closed the stream');
    }
  }

  /** The keys (latin1 of their bytes) touched since the last take, with their TOUCH_* bits. */
  take(): Map<string, number> {
    const taken = this.touched;
    this.touched = new Map();
    return taken;
  }

  /** Reads to the end of the stream: the watched process has exited. */
  async untilEnd(timeoutMs: number): Promise<boolean> {
    const abort = new AbortController();
    const timedOut = sleep(timeoutMs, false, { signal: abort.signal }).catch(() => false);
    const ended = await Promise.race([this.ended.then(() => true), timedOut]);
    abort.abort();
    return ended;
  }

  close(): void {
    this.stream.destroy();
  }
}

/** Log entries memcached dropped so far (`log_worker_dropped` + `log_watcher_skipped`): changes a watch may not have seen. */
export async function droppedLogEntries(client: MetaClient): Promise<number> {
  const stats = await client.stats();
  return Number(stats.get('log_worker_dropped') ?? 0) + Number(stats.get('log_watcher_skipped') ?? 0);
}
