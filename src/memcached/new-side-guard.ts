import type { Duplex } from 'node:stream';
import { ChangeWatch, droppedLogEntries, TOUCH_MISSED, WatchUnavailable } from './change-watch.js';
import { CasIndex, keyDigestId } from './key-index.js';
import type { MetaClient } from './meta-client.js';

// The new side of a cold restore under traffic. The new instance serves while
// the backup is restored into it, in add mode: a client's write always wins.
// A client's delete does not: deleting a key not restored yet misses, and the
// restore then brings the key back. The guard watches the new instance during
// the restore; a key the stream shows a client looking up *and missing*
// (a get or a delete that found nothing) was looked up before memplay stored
// it. Once the restore is done, every such key that memplay stored is deleted
// again — only while it still holds memplay's own copy (`md … C<cas>`), so a
// client's later write is never touched. A miss in the end — but until then
// the key was back, and clients may have read it: every key deleted again is
// counted as possibly stale. Deletes that missed before the watch began are
// counted from `delete_misses`: nobody can name their keys.

export interface GuardResult {
  /** Restored copies deleted again because a client had deleted (or missed) the key first. */
  readonly removed: number;
  /**
   * Deletes the restore may have undone, for a while (those `removed` again, which clients
   * could read until then) or for good (before the watch, or dropped by it).
   */
  readonly possiblyStale: number;
}

export class NewSideGuard {
  private readonly stored: CasIndex;
  private readonly touchedKeys = new Set<string>();

  private ownStores = 0;

  private constructor(
    /** The restore's client: held open, and closed with the guard (change-watch.ts: fds are reused). */
    private readonly client: MetaClient,
    private readonly watch: ChangeWatch | undefined,
    private readonly unwatched: string | undefined,
    private readonly before: { deleteMisses: number; dropped: number; cmdSet: number },
    expectedItems: number,
  ) {
    this.stored = new CasIndex(watch ? expectedItems : 0);
  }

  /**
   * Starts watching `client`'s instance. Never throws for a watch memcached
   * refuses: the guard then only counts (`delete_misses`) and says why. The
   * guard takes `client` over: close() closes it.
   */
  static async open(
    connect: () => Promise<Duplex>,
    client: MetaClient,
    expectedItems: number,
  ): Promise<NewSideGuard> {
    let watch: ChangeWatch | undefined;
    let unwatched: string | undefined;
    try {
      // Lookups only: the restore's own stores would flood memcached's log buffers (change-watch.ts).
      watch = await ChangeWatch.open(connect, 'fetchers');
      await watch.ignoreConnectionsOf(client);
    } catch (error) {
      watch?.close();
      watch = undefined;
      if (!(error instanceof WatchUnavailable)) throw error;
      unwatched = error.message;
    }
    const stats = await client.stats();
    const before = {
      deleteMisses: Number(stats.get('delete_misses') ?? 0),
      dropped: Number(stats.get('log_worker_dropped') ?? 0) + Number(stats.get('log_watcher_skipped') ?? 0),
      cmdSet: Number(stats.get('cmd_set') ?? 0),
    };
    return new NewSideGuard(client, watch, unwatched, before, expectedItems);
  }

  /** Why deletes during the restore cannot be followed, if they cannot. */
  get unavailable(): string | undefined {
    return this.unwatched;
  }

  /** Pass to restoreBackup: remembers the cas of every item memplay stored. */
  readonly onStored = (key: Buffer, cas: number): void => {
    if (this.watch && Number.isFinite(cas)) this.stored.remember(keyDigestId(key), cas);
  };

  /** Every `ms` the restore sent (stored or not): what of `cmd_set` is memplay's own. */
  countOwnStores(count: number): void {
    this.ownStores += count;
  }

  /** After the restore: deletes the restored copies of keys clients missed on, returns the counts. */
  async settle(client: MetaClient): Promise<GuardResult> {
    const stats = await client.stats();
    const allDeleteMisses = Number(stats.get('delete_misses') ?? 0);
    // Unwatched: every client delete that missed since the start may have been undone.
    if (!this.watch) return { removed: 0, possiblyStale: allDeleteMisses };
    try {
      await this.watch.barrier(client);
    } catch (error) {
      if (!(error instanceof WatchUnavailable)) throw error;
      // The stream cannot be trusted to be complete: every delete that missed since the start may have been undone.
      return { removed: 0, possiblyStale: allDeleteMisses };
    }
    // Entries memcached dropped while the restore ran: deletes nobody can name.
    const dropped = (await droppedLogEntries(client)) - this.before.dropped;
    const undo: Array<{ key: Buffer; cas: number }> = [];
    for (const [id, touch] of this.watch.take()) {
      this.touchedKeys.add(id);
      if (!(touch & TOUCH_MISSED)) continue;
      const key = Buffer.from(id, 'latin1');
      const cas = this.stored.casOf(keyDigestId(key));
      if (cas !== undefined) undo.push({ key, cas });
    }
    const removed = undo.length > 0 ? (await client.deleteIfUnchanged(undo)).deleted : 0;
    // Two bounds on the deletes the restore may have undone unseen; the smaller holds. Every
    // such delete missed (delete_misses since the start), and every one the watch missed
    // came before it (before.deleteMisses) or is among the entries memcached dropped —
    // which a restore's burst does: its stores look the key up too, and measured on
    // 1.6.38, 22,000 stores in 0.2 s overran the per-thread log buffers (1,510 dropped).
    // A key deleted again here was back for as long as the rest of the restore ran (15 s at
    // 1 GB): clients may have read it meanwhile, so it counts too (measured: 28 keys read back
    // at 1 GB, the count without them 9).
    const unseen = this.before.deleteMisses + Math.max(0, dropped) + this.watch.skipped + removed;
    return { removed, possiblyStale: Math.min(allDeleteMisses, unseen) };
  }

  /**
   * Client stores, deletes, incr/decr and touches that hit since the restore began
   * (memcached's counters less memplay's own stores): how many sampled keys may
   * rightly differ beyond those the watch named.
   */
  async clientChangesSinceRestore(client: MetaClient): Promise<number> {
    const stats = await client.stats();
    const counted = ['delete_hits', 'incr_hits', 'decr_hits', 'touch_hits'].reduce(
      (sum, name) => sum + Number(stats.get(name) ?? 0),
      0,
    );
    const stores = Number(stats.get('cmd_set') ?? 0) - this.before.cmdSet - this.ownStores;
    return Math.max(0, stores) + counted;
  }

  /**
   * Keys (latin1 of their bytes) clients looked up — read, deleted, incremented —
   * since the restore began, up to now: a sample compared with the backup skips
   * them (they may differ rightly). Client stores are counted, not named:
   * clientChangesSinceRestore().
   */
  async touchedSinceRestore(client: MetaClient): Promise<ReadonlySet<string>> {
    if (this.watch && !this.watch.isEnded) {
      try {
        await this.watch.barrier(client);
      } catch (error) {
        // What the stream showed so far; the callers also count every client change.
        if (!(error instanceof WatchUnavailable)) throw error;
      }
      for (const id of this.watch.take().keys()) this.touchedKeys.add(id);
    }
    return this.touchedKeys;
  }

  /** Closes the watch, then the client it was given (never the other way round). */
  close(): void {
    this.watch?.close();
    this.client.close();
  }
}
