import type { BackupHeader, BackupItem } from './backup-layout.js';
import type { BackupPath } from './backup-path.js';
import { BackupFileError, readBackupItems, verifyBackup } from './backup-reader.js';
import type { BackupWriter } from './backup-writer.js';
import type { ServerClock } from './expiry.js';
import { CasIndex, keyDigestId } from './key-index.js';
import type { FetchedItem, MetaClient, StoreCounts, StoreMode } from './meta-client.js';
import { type MetadumpEntry, MetadumpError, type MetadumpMode } from './metadump.js';
import { lateBuckets, sizeBucket } from './restore-order.js';

// The three data movements of an upgrade, over a MetaClient:
//   full pass   metadump → pipelined mg (or, before 1.6.10, gets) → backup file,
//               remembering each key's cas
//   delta pass  (right before the swap) metadump again → re-read only new keys
//               and keys whose cas changed, tombstone keys that disappeared
//   restore     verify the file, then pipelined ms of the final state
// Listing and fetching overlap: metadump entries feed the mg pipeline as they
// arrive, with backpressure from the backup file down to the crawler.

export interface PassOptions {
  readonly mode?: MetadumpMode | 'auto';
  /** How items are read (backup-path.ts): `mg`, or `gets` with metadump's expiry. Default meta. */
  readonly path?: BackupPath;
  /** Called every `progressEvery` items written, and once more when the pass is done. */
  readonly onProgress?: (progress: { listed: number; written: number; valueBytes: number }) => void;
  readonly progressEvery?: number;
  /** Restarts of a metadump the server cut short (ERROR locked / BUSY mid-dump). Default 3. */
  readonly maxRestarts?: number;
}

export interface FullPassResult {
  readonly mode: MetadumpMode;
  /** Entries metadump listed (over all attempts, duplicates excluded). */
  readonly listed: number;
  /** Items written to the backup. */
  readonly written: number;
  readonly valueBytes: number;
  /** Listed, then gone before mg reached them: expired or evicted during the dump. */
  readonly vanishedDuringDump: number;
  /**
   * Keys the read protocol cannot address: on meta, binary-protocol keys with
   * spaces over 186 bytes; on `gets`, every key with a space or control byte.
   */
  readonly unaddressable: readonly string[];
  /** `curr_items` before and after the pass: compare with `listed` to tell a complete dump. */
  readonly currItemsBefore: number;
  readonly currItemsAfter: number;
  readonly restarts: number;
  readonly durationMs: number;
}

export interface DeltaPassResult {
  readonly mode: MetadumpMode;
  readonly listed: number;
  readonly unchanged: number;
  readonly changed: number;
  readonly added: number;
  /** Tombstones written: keys gone since the previous pass (or gone while re-read). */
  readonly deleted: number;
  readonly written: number;
  readonly valueBytes: number;
  readonly unaddressable: readonly string[];
  readonly restarts: number;
  readonly durationMs: number;
}

export interface RestoreResult extends StoreCounts {
  /** Items the caller asked to leave out (leaveOut) and that were therefore not sent. */
  readonly leftOut: number;
  readonly header: BackupHeader;
  readonly durationMs: number;
}

/** A listed key on its way to mg, with its digest computed once. */
interface Listed {
  readonly key: Buffer;
  readonly size: number;
  readonly id: string;
  /** What `gets` cannot tell: metadump's expiry, and the cas that dated it. */
  readonly exptime: number;
  readonly cas: number;
}

async function currItems(client: MetaClient): Promise<number> {
  return Number((await client.stats()).get('curr_items') ?? Number.NaN);
}

/** Runs a listing+fetch, restarting the listing when the server cuts it short. */
async function withRestarts<T>(options: PassOptions, attempt: () => Promise<T>): Promise<[T, number]> {
  const maxRestarts = options.maxRestarts ?? 3;
  for (let restarts = 0; ; restarts++) {
    try {
      return [await attempt(), restarts];
    } catch (error) {
      if (!(error instanceof MetadumpError) || !error.retryable || restarts >= maxRestarts) throw error;
    }
  }
}

/** What one pass does with the listing: which keys to read, and what to do with each value or vanished key. */
interface PassSteps {
  /** Whether to read this listed key (the pass counts what it skips). */
  pick(entry: MetadumpEntry, id: string): boolean;
  onItem(item: FetchedItem, id: string): Promise<void> | undefined;
  /** The key was listed, then gone before mg reached it. */
  onMissing(id: string): void;
}

/**
 * The loop both passes share: metadump lists every key, `steps.pick` chooses
 * which to read, and those are fetched pipelined while the dump goes on. A dump
 * the server cuts short is restarted (withRestarts); the index the passes pick
 * with makes a restart read only what it has not read yet.
 */
async function listAndFetch(
  client: MetaClient,
  clock: ServerClock,
  options: PassOptions,
  steps: PassSteps,
): Promise<{ mode: MetadumpMode; restarts: number; unaddressable: string[] }> {
  let mode: MetadumpMode = 'hash';
  const unaddressable: string[] = [];
  const [, restarts] = await withRestarts(options, async () => {
    const dump = client.metadumpEntries(options.mode ?? 'auto');
    async function* picked(): AsyncGenerator<Listed> {
      for (;;) {
        const step = await dump.next();
        if (step.done) {
          mode = step.value.mode;
          return;
        }
        const entry = step.value;
        const id = keyDigestId(entry.key);
        if (steps.pick(entry, id)) {
          yield { key: entry.key, size: entry.size, id, exptime: entry.exptime, cas: entry.cas };
        }
      }
    }
    const counts = await client.fetchItems(picked(), (item, request) => steps.onItem(item, request.id), {
      clock,
      onMissing: (request) => steps.onMissing(request.id),
      via: options.path === 'metadump-gets' ? 'gets' : 'meta',
    });
    unaddressable.push(...counts.unaddressable);
  });
  return { mode, restarts, unaddressable };
}

/**
 * Full pass: every listed item into the backup; `index` learns each key's cas.
 * Keys listed twice (mode `all` can meet an item twice as the LRU moves it, and
 * a restarted dump meets everything again) are fetched once.
 */
export async function backupFullPass(
  client: MetaClient,
  writer: BackupWriter,
  index: CasIndex,
  clock: ServerClock,
  options: PassOptions = {},
): Promise<FullPassResult> {
  const started = performance.now();
  const currItemsBefore = await currItems(client);
  let listed = 0;
  let written = 0;
  let valueBytes = 0;
  let vanished = 0;
  const every = options.progressEvery ?? 1_000;
  const { mode, restarts, unaddressable } = await listAndFetch(client, clock, options, {
    pick: (entry, id) => {
      if (!index.rememberNew(id, entry.cas)) return false;
      listed++;
      return true;
    },
    onItem: (item, id) => {
      index.remember(id, item.cas);
      written++;
      valueBytes += item.value.length;
      if (options.onProgress && written % every === 0) options.onProgress({ listed, written, valueBytes });
      return writer.writeItem(item);
    },
    onMissing: (id) => {
      index.forget(id);
      vanished++;
    },
  });
  options.onProgress?.({ listed, written, valueBytes });
  return {
    mode,
    listed,
    written,
    valueBytes,
    vanishedDuringDump: vanished,
    unaddressable,
    currItemsBefore,
    currItemsAfter: await currItems(client),
    restarts,
    durationMs: performance.now() - started,
  };
}

/**
 * Delta pass: opens the backup's delta section, re-reads new and changed keys,
 * and writes a tombstone for each key gone since the previous pass.
 */
export async function backupDeltaPass(
  client: MetaClient,
  writer: BackupWriter,
  index: CasIndex,
  clock: ServerClock,
  options: PassOptions = {},
): Promise<DeltaPassResult> {
  const started = performance.now();
  await writer.beginDelta(clock.now());
  index.beginDelta();
  let listed = 0;
  let unchanged = 0;
  let changed = 0;
  let added = 0;
  let deleted = 0;
  let written = 0;
  let valueBytes = 0;
  const { mode, restarts, unaddressable } = await listAndFetch(client, clock, options, {
    pick: (entry, id) => {
      listed++;
      const verdict = index.observe(id, entry.cas);
      if (verdict === 'unchanged') {
        unchanged++;
        return false;
      }
      if (verdict === 'new') added++;
      else changed++;
      return true;
    },
    onItem: (item, id) => {
      index.remember(id, item.cas);
      written++;
      valueBytes += item.value.length;
      return writer.writeItem(item);
    },
    onMissing: (id) => {
      // Gone between listing and re-reading: deleted as far as the backup is concerned.
      index.forget(id);
      deleted++;
      void writer.writeTombstone(Buffer.from(id, 'base64'));
    },
  });
  for (const digest of index.endDelta()) {
    deleted++;
    await writer.writeTombstone(digest);
  }
  return {
    mode,
    listed,
    unchanged,
    changed,
    added,
    deleted,
    written,
    valueBytes,
    unaddressable,
    restarts,
    durationMs: performance.now() - started,
  };
}

/**
 * Verifies the backup (nothing is written if that fails: BackupFileError), then
 * stores its final state. `add` mode never overwrites what clients already
 * wrote to the new instance.
 */
export async function restoreBackup(
  client: MetaClient,
  path: string,
  options: {
    mode: StoreMode;
    clock?: ServerClock;
    alreadyVerified?: BackupHeader;
    /** Items and value bytes read from the file and handed to memcached so far: every 1,000 items and at the end. */
    onProgress?: (progress: { items: number; valueBytes: number; header: BackupHeader }) => void;
    /** Key digests (keyDigestId) not to restore: clients changed them after the backup (old-side-fence.ts). */
    leaveOut?: ReadonlySet<string>;
    /** Called with the cas of every item stored. */
    onStored?: (key: Buffer, cas: number) => void;
    /** `text`: classic add/set, into a server without meta (a rollback to 1.5); onStored is not called. */
    via?: 'meta' | 'text';
  },
): Promise<RestoreResult> {
  const started = performance.now();
  // A caller that verified the file moments ago (before stopping the old instance)
  // passes its header, so the checksum pass stays out of the out-of-service window.
  const verification = options.alreadyVerified
    ? { ok: true as const, header: options.alreadyVerified }
    : await verifyBackup(path);
  if (!verification.ok) throw verification.error;
  const clock = options.clock ?? (await client.serverClock());
  const { header } = verification;
  const { onProgress } = options;
  let items = 0;
  let valueBytes = 0;
  let leftOut = 0;
  const leaveOut = options.leaveOut && options.leaveOut.size > 0 ? options.leaveOut : undefined;
  const late = lateBuckets(header.metadata.sizeHistogram);
  async function* ordered(): AsyncGenerator<BackupItem> {
    // The rarest sizes go last (restore-order.ts): held in memory meanwhile, under 512 KiB per size range.
    const deferred: BackupItem[] = [];
    for await (const item of readBackupItems(path)) {
      if (leaveOut?.has(keyDigestId(item.key))) {
        leftOut++;
        continue;
      }
      if (late.has(sizeBucket(item.key.length, item.value.length))) {
        deferred.push({ ...item, key: Buffer.from(item.key), value: Buffer.from(item.value) });
        continue;
      }
      items++;
      valueBytes += item.value.length;
      if (items % 1_000 === 0) onProgress?.({ items, valueBytes, header });
      yield item;
    }
    for (const item of deferred) {
      items++;
      valueBytes += item.value.length;
      if (items % 1_000 === 0) onProgress?.({ items, valueBytes, header });
      yield item;
    }
  }
  const counts = await client.storeItems(
    onProgress || leaveOut || late.size > 0 ? ordered() : readBackupItems(path),
    {
      mode: options.mode,
      ...(options.onStored ? { onStored: options.onStored } : {}),
      ...(options.via ? { via: options.via } : {}),
    },
    clock,
  );
  onProgress?.({ items, valueBytes, header });
  return { ...counts, leftOut, header, durationMs: performance.now() - started };
}

export { BackupFileError, CasIndex };
