import { constants } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { BackupWriter } from './backup-writer.js';
import { type ChangeWatch, droppedLogEntries } from './change-watch.js';
import type { ServerClock } from './expiry.js';
import { type CasIndex, keyDigestId } from './key-index.js';
import type { MetaClient } from './meta-client.js';
import { checkByMetadump } from './metadump-fence.js';

// The old side of an upgrade under traffic. A backup is a copy of a cache that
// clients keep changing until the old process exits; a key changed after memplay
// read it must never go into the new instance with the older value. A change
// watch (change-watch.ts) runs from before the delta pass until the old process
// has exited, and every key a client touched is dealt with in one of three ways:
//   before the seal   re-read into the backup's delta section (its value now);
//   after the seal    `mg <key> c`: the cas memplay read is still there, so the
//                     key did not change (a get); otherwise it is excluded;
//   after the stop    touched after the last check: excluded.
// Excluded keys are left out of the restore: a miss, never an older value.
// Entries the server dropped from the stream (`skipped=`) are changes nobody
// can name: they are counted as possibly stale, never taken as none.

export interface CatchUpResult {
  readonly rounds: number;
  readonly reread: number;
  readonly tombstoned: number;
  readonly durationMs: number;
}

const quietBelow = 50;

/**
 * Re-reads every key clients touched since the watch began into the backup's
 * delta section, round after round, until a round finds fewer than 50 (or
 * `maxRounds` ran). Call after the delta pass, before the backup is sealed.
 */
export async function catchUpTouchedKeys(
  client: MetaClient,
  writer: BackupWriter,
  index: CasIndex,
  clock: ServerClock,
  watch: ChangeWatch,
  maxRounds = 5,
): Promise<CatchUpResult> {
  const started = performance.now();
  let rounds = 0;
  let reread = 0;
  let tombstoned = 0;
  while (rounds < maxRounds) {
    await watch.barrier(client);
    const touched = watch.take();
    rounds++;
    if (touched.size === 0) break;
    const keys = [...touched.keys()].map((id) => ({ key: Buffer.from(id, 'latin1') }));
    await client.fetchItems(
      keys,
      (item) => {
        index.remember(keyDigestId(item.key), item.cas);
        reread++;
        return writer.writeItem(item);
      },
      {
        clock,
        onMissing: (request) => {
          const id = keyDigestId(request.key);
          if (!index.has(id)) return;
          index.forget(id);
          tombstoned++;
          void writer.writeTombstone(Buffer.from(id, 'base64'));
        },
      },
    );
    if (touched.size < quietBelow) break;
  }
  return { rounds, reread, tombstoned, durationMs: performance.now() - started };
}

/** Which keys of a sealed backup must not be restored, and what could not be named. */
export interface FenceRecord {
  /** `pending`: the old instance was being stopped and its last changes were never collected. */
  readonly state: 'pending' | 'complete';
  /** Key digests (keyDigestId) whose backed-up value is older than the old instance's last one. */
  readonly excluded: readonly string[];
  /** Changes the watch stream dropped (`skipped=`) after the seal: keys that may be stale, unnamed. */
  readonly unknown: number;
  /** Why the fence is not exact at the exit, when it is not. */
  readonly inexact?: string;
}

/** Touched keys that are in the backup: the ones whose restore could bring an older value. */
function backedUp(touched: Iterable<string>, index: CasIndex): string[] {
  const ids: string[] = [];
  for (const key of touched) {
    const id = keyDigestId(Buffer.from(key, 'latin1'));
    if (index.has(id)) ids.push(id);
  }
  return ids;
}

/**
 * After the seal, right before the stop: keys touched since the last catch-up
 * whose cas moved (or that are gone) are excluded; a key only read is not.
 */
async function checkSealedKeys(
  client: MetaClient,
  index: CasIndex,
  watch: ChangeWatch,
): Promise<Set<string>> {
  await watch.barrier(client);
  const touched = watch.take();
  const excluded = new Set<string>();
  const candidates = [...touched.keys()]
    .map((key) => ({ key: Buffer.from(key, 'latin1'), id: keyDigestId(Buffer.from(key, 'latin1')) }))
    .filter((entry) => index.has(entry.id));
  const casNow = await client.casOf(candidates.map((entry) => entry.key));
  candidates.forEach((entry, i) => {
    if (casNow[i] !== index.casOf(entry.id)) excluded.add(entry.id);
  });
  return excluded;
}

/** After the old process exited: everything touched since the sealed check is excluded too. */
function settleAfterExit(
  watch: ChangeWatch,
  index: CasIndex,
  excludedBefore: ReadonlySet<string>,
  inexact?: string,
): FenceRecord {
  const excluded = new Set(excludedBefore);
  for (const id of backedUp(watch.take().keys(), index)) excluded.add(id);
  return {
    state: 'complete',
    excluded: [...excluded],
    unknown: watch.skipped,
    ...(inexact ? { inexact } : {}),
  };
}

/** Where the fence of a backup is recorded, beside it (a sidecar: it goes when the backup goes). */
export function fencePath(backupFile: string): string {
  return `${backupFile}.fence.json`;
}

export async function writeFenceRecord(backupFile: string, record: FenceRecord): Promise<void> {
  const path = fencePath(backupFile);
  // Never through a link someone left at that name (backup-dir.ts).
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;
  await writeFile(`${path}.partial`, `${JSON.stringify(record)}\n`, { mode: 0o600, flag: flags });
  await rename(`${path}.partial`, path);
}

/** The fence a backup was sealed with, or null for a backup taken without one (idle, `memplay backup`). */
export async function readFenceRecord(backupFile: string): Promise<FenceRecord | null> {
  try {
    const parsed = JSON.parse(await readFile(fencePath(backupFile), 'utf8')) as FenceRecord;
    if (!Array.isArray(parsed.excluded) || (parsed.state !== 'pending' && parsed.state !== 'complete')) {
      return null;
    }
    return parsed;
  } catch {
    return null;
  }
}

/**
 * A sealed backup's fence, held open from the seal until the old process has
 * exited. swap calls checkBeforeStop() right before it stops the old instance
 * and settle() once the stop returned; abort() when nothing will be stopped.
 */
export class OldSideFence {
  private excludedBeforeStop = new Set<string>();
  /** Log entries memcached dropped while the watch ran, as of the last look (changes nobody saw). */
  private dropped = 0;

  /**
   * `droppedAtOpen`: droppedLogEntries() when the watch opened. Without a watch
   * (`withoutWatch`), the last look is a metadump of every key's cas instead.
   */
  constructor(
    private readonly watch: ChangeWatch | undefined,
    private readonly client: MetaClient,
    private readonly index: CasIndex,
    private readonly droppedAtOpen: number,
    private readonly noWatchReason?: string,
  ) {}

  /**
   * The fence of an old instance with no change stream to follow (metadump-fence.ts):
   * exact up to the last look, and `why` says what it cannot see after it.
   */
  static withoutWatch(client: MetaClient, index: CasIndex, why: string): OldSideFence {
    return new OldSideFence(undefined, client, index, 0, why);
  }

  /** The last look while the old instance serves. */
  async checkBeforeStop(): Promise<void> {
    if (!this.watch) {
      const check = await checkByMetadump(this.client, this.index);
      this.excludedBeforeStop = new Set(check.excluded);
      this.dropped = check.changesDuringCheck;
      return;
    }
    this.excludedBeforeStop = await checkSealedKeys(this.client, this.index, this.watch);
    this.dropped = Math.max(0, (await droppedLogEntries(this.client)) - this.droppedAtOpen);
  }

  /** What a restore must leave out if the process is gone before settle() records more. */
  pending(): FenceRecord {
    return {
      state: 'pending',
      excluded: [...this.excludedBeforeStop],
      unknown: (this.watch?.skipped ?? 0) + this.dropped,
    };
  }

  /**
   * Reads the watch to its end (the old process exited) and returns every key
   * that must not be restored. `inexact`: why the stop may have lost the last
   * changes (an exit by SIGTERM does not let the logger write its last round).
   */
  async settle(inexact?: string): Promise<FenceRecord> {
    if (!this.watch) {
      this.client.close();
      return {
        state: 'complete',
        excluded: [...this.excludedBeforeStop],
        unknown: this.dropped,
        inexact: [inexact, this.noWatchReason].filter(Boolean).join('; '),
      };
    }
    // The client closes after the stream ends: its fds stay memplay's until then (change-watch.ts).
    const ended = await this.watch.untilEnd(15_000);
    this.client.close();
    this.watch.close();
    const record = settleAfterExit(
      this.watch,
      this.index,
      this.excludedBeforeStop,
      ended ? inexact : `${inexact ? `${inexact}; ` : ''}the old instance's change stream did not end`,
    );
    return { ...record, unknown: record.unknown + this.dropped };
  }

  abort(): void {
    this.client.close();
    this.watch?.close();
  }

  /** The same watch, following the old instance for a handover instead of fencing a restore. */
  follower(): HandoverFollower {
    if (!this.watch)
      throw new Error(`a handover follows the old instance's change stream: ${this.noWatchReason}`);
    return new HandoverFollower(this.watch, this.client, this.droppedAtOpen);
  }
}

/** What a handover's catch-up round moved from the old instance to the new one. */
export interface CopyRound {
  readonly touched: number;
  readonly copied: number;
  readonly deleted: number;
}

/**
 * `swap.mode: handover`: the new instance runs beside the old one and follows it.
 * Each round copies the current value of every key clients touched since the
 * last round from the old instance to the new one (or deletes it there); after
 * the stop, the keys touched since the last round are deleted on the new one.
 */
export class HandoverFollower {
  private readonly touchedSinceSeal = new Set<string>();
  private dropped = 0;

  constructor(
    private readonly watch: ChangeWatch,
    private readonly oldClient: MetaClient,
    private readonly droppedAtOpen: number,
  ) {}

  async copyRound(newClient: MetaClient, clock: ServerClock): Promise<CopyRound> {
    await this.watch.barrier(this.oldClient);
    const touched = this.watch.take();
    const keys: Buffer[] = [];
    for (const id of touched.keys()) {
      this.touchedSinceSeal.add(id);
      keys.push(Buffer.from(id, 'latin1'));
    }
    this.dropped = Math.max(0, (await droppedLogEntries(this.oldClient)) - this.droppedAtOpen);
    if (keys.length === 0) return { touched: 0, copied: 0, deleted: 0 };
    const present: FetchedCopy[] = [];
    const gone: Buffer[] = [];
    await this.oldClient.fetchItems(
      keys.map((key) => ({ key })),
      (item) => {
        present.push({
          key: Buffer.from(item.key),
          value: Buffer.from(item.value),
          flags: item.flags,
          exptime: item.exptime,
        });
      },
      { clock, onMissing: (request) => gone.push(request.key) },
    );
    const stored = await newClient.storeItems(present, { mode: 'set' }, clock);
    const deleted = gone.length > 0 ? await newClient.deleteKeys(gone) : { deleted: 0, notFound: 0 };
    return { touched: keys.length, copied: stored.stored, deleted: deleted.deleted };
  }

  /** After the old process exited: the keys touched since the last round, to delete on the new instance. */
  async lastChanges(): Promise<{ readonly keys: Buffer[]; readonly ended: boolean }> {
    const ended = await this.watch.untilEnd(15_000);
    this.oldClient.close();
    this.watch.close();
    const keys: Buffer[] = [];
    for (const id of this.watch.take().keys()) {
      this.touchedSinceSeal.add(id);
      keys.push(Buffer.from(id, 'latin1'));
    }
    return { keys, ended };
  }

  /** Every key clients touched on the old instance after the seal: a restore of the backup leaves them out. */
  record(inexact?: string): FenceRecord {
    return {
      state: 'complete',
      excluded: [...this.touchedSinceSeal].map((id) => keyDigestId(Buffer.from(id, 'latin1'))),
      unknown: this.watch.skipped + this.dropped,
      ...(inexact ? { inexact } : {}),
    };
  }

  abort(): void {
    this.oldClient.close();
    this.watch.close();
  }
}

interface FetchedCopy {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly flags: number;
  readonly exptime: number;
}
