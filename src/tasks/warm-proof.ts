import { readBackupItems } from '../memcached/backup-reader.js';
import { keyDigestId } from '../memcached/key-index.js';
import type { MetaClient } from '../memcached/meta-client.js';
import { formatCount } from '../units.js';
import {
  clientChangesSinceStart,
  compareItems,
  type SampledItem,
  sampledItem,
  toleratedDifferences,
} from './sample-check.js';

// The proof that a warm restart brought the cache back: never trusted, always
// checked against the backup taken before the stop. memcached starts empty
// without a word when it refuses a memory file (settings differ, no `.meta`),
// so the item count catches that; the compared items catch a changed format.
// What can be learnt from the backup is read before the stop, while the old
// instance still serves: only the comparison itself counts as out of service.

export interface PreparedProof {
  readonly backupPath: string;
  readonly sample: readonly SampledItem[];
  /** Items that never expire. */
  readonly permanent: number;
  /** Expiry times of the others, ascending. */
  readonly expiries: readonly number[];
}

export interface ProofResult {
  readonly ok: boolean;
  /** What was shown, or what fell short. */
  readonly detail: string;
  readonly items: number;
}

const fullBatch = 2000;
/**
 * Expiry tolerance of the proof. memcached rebases its clock across a warm
 * restart in whole seconds (on a memory file its `stats time` also runs up to
 * ~2 s behind the wall clock): measured on the loaded lab, resumed items read
 * back 3 s earlier than the backup says, every value and flag exact. Wider
 * than the 2 s of a restore's check, narrow enough to catch a wrong expiry.
 */
export const warmExpiryToleranceSeconds = 5;
const mismatchesShown = 5;

export async function prepareProof(backupPath: string, sampleSize: number): Promise<PreparedProof> {
  let total = 0;
  let permanent = 0;
  const expiries: number[] = [];
  for await (const item of readBackupItems(backupPath)) {
    total++;
    if (item.exptime === 0) permanent++;
    else expiries.push(item.exptime);
  }
  expiries.sort((a, b) => a - b);
  const sample: SampledItem[] = [];
  if (sampleSize > 0) {
    const every = Math.max(1, Math.floor(total / sampleSize));
    let index = 0;
    for await (const item of readBackupItems(backupPath)) {
      if (index++ % every === 0 && sample.length < sampleSize) sample.push(sampledItem(item));
    }
  }
  return { backupPath, sample, permanent, expiries };
}

/** Backup items still alive at `now` (with the comparison's tolerance). */
function liveAt(proof: PreparedProof, now: number): number {
  const bound = now + warmExpiryToleranceSeconds;
  let low = 0;
  let high = proof.expiries.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if ((proof.expiries[mid] as number) <= bound) low = mid + 1;
    else high = mid;
  }
  return proof.permanent + (proof.expiries.length - low);
}

/** Keys clients changed after the backup was sealed (the old side's fence): expected to differ. */
export interface ProofExpectations {
  readonly changedSinceBackup: ReadonlySet<string>;
  /** Changes the old side's watch dropped: unnamed keys that may differ. */
  readonly unknownChanges: number;
}

const noChanges: ProofExpectations = { changedSinceBackup: new Set(), unknownChanges: 0 };

function unchangedOnly(items: readonly SampledItem[], expectations: ProofExpectations): SampledItem[] {
  if (expectations.changedSinceBackup.size === 0) return [...items];
  return items.filter((item) => !expectations.changedSinceBackup.has(keyDigestId(item.key)));
}

async function compareEvery(client: MetaClient, backupPath: string, expectations: ProofExpectations) {
  const clock = await client.serverClock();
  let compared = 0;
  const mismatches: string[] = [];
  let batch: SampledItem[] = [];
  const flush = async () => {
    const result = await compareItems(client, batch, clock, warmExpiryToleranceSeconds);
    compared += result.compared;
    mismatches.push(...result.mismatches.slice(0, Math.max(0, mismatchesShown - mismatches.length)));
    return result.mismatches.length;
  };
  let differing = 0;
  for await (const item of readBackupItems(backupPath)) {
    if (
      expectations.changedSinceBackup.size > 0 &&
      expectations.changedSinceBackup.has(keyDigestId(item.key))
    )
      continue;
    batch.push(sampledItem(item));
    if (batch.length >= fullBatch) {
      differing += await flush();
      batch = [];
    }
  }
  if (batch.length > 0) differing += await flush();
  return { compared, differing, mismatches };
}

export async function proveWarmRestart(
  client: MetaClient,
  proof: PreparedProof,
  options: { readonly full: boolean; readonly expectations?: ProofExpectations },
): Promise<ProofResult> {
  const expectations = options.expectations ?? noChanges;
  const stats = await client.stats();
  const items = Number(stats.get('curr_items') ?? 0);
  const now = Number(stats.get('time') ?? Math.floor(Date.now() / 1000));
  // Each key clients changed after the backup may have been deleted since: it may be missing.
  // So may any key they deleted on the new instance since it started, before this proof looked.
  const sinceStart = clientChangesSinceStart(stats);
  const changed =
    expectations.changedSinceBackup.size +
    expectations.unknownChanges +
    Number(stats.get('delete_hits') ?? 0) +
    Number(stats.get('evictions') ?? 0);
  const expected = Math.max(0, liveAt(proof, now) - changed);
  // Expired items stay in curr_items until memcached reclaims them, so a good
  // restart holds at least the backup's live items; fewer means some were lost.
  if (items < expected) {
    return {
      ok: false,
      items,
      detail: `came back with ${formatCount(items)} items, the backup holds ${formatCount(expected)} live ones`,
    };
  }
  const counted = `${formatCount(items)} items ≥ ${formatCount(expected)} live in the backup${changed ? ` less ${formatCount(changed)} clients changed since` : ''}`;
  if (options.full) {
    const result = await compareEvery(client, proof.backupPath, expectations);
    if (result.differing > toleratedDifferences(result.compared, sinceStart, items)) {
      return {
        ok: false,
        items,
        detail: `${formatCount(result.differing)} of ${formatCount(result.compared)} items differ from the backup: ${result.mismatches.join('; ')}`,
      };
    }
    return { ok: true, items, detail: `${counted}, every item (${formatCount(result.compared)}) matches` };
  }
  if (proof.sample.length === 0) return { ok: true, items, detail: `${counted} (verify.sample: 0)` };
  const result = await compareItems(
    client,
    unchangedOnly(proof.sample, expectations),
    await client.serverClock(),
    warmExpiryToleranceSeconds,
  );
  // Clients read and write the new instance from its first moment: each change counted since
  // its start may explain one difference. A restart that brought back the wrong data differs
  // in far more (every sampled item, when memcached started empty).
  const clientsSinceStart = clientChangesSinceStart(await client.stats());
  if (result.mismatches.length > toleratedDifferences(result.compared, clientsSinceStart, items)) {
    return {
      ok: false,
      items,
      detail: `${result.mismatches.length} of ${result.compared} sampled items differ from the backup (clients made ${formatCount(clientsSinceStart)} changes since the start): ${result.mismatches.slice(0, mismatchesShown).join('; ')}`,
    };
  }
  return {
    ok: true,
    items,
    detail: `${counted}, ${result.compared} sampled items match (value, flags, TTL)`,
  };
}
