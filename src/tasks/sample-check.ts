import { createHash } from 'node:crypto';
import { readBackupItems } from '../memcached/backup-reader.js';
import type { ServerClock } from '../memcached/expiry.js';
import { displayKey } from '../memcached/key-encoding.js';
import type { MetaClient } from '../memcached/meta-client.js';

// Reads back an evenly spread sample of the backup's items from the new
// instance and compares value checksum, flags and expiry (within 2 s).

export interface SampledItem {
  readonly key: Buffer;
  readonly valueSha256: string;
  readonly flags: number;
  readonly exptime: number;
}

export interface SampleResult {
  readonly compared: number;
  readonly mismatches: readonly string[];
}

export const ttlToleranceSeconds = 2;

function sha256(value: Buffer): string {
  return createHash('sha256').update(value).digest('hex');
}

export function sampledItem(item: {
  key: Buffer;
  value: Buffer;
  flags: number;
  exptime: number;
}): SampledItem {
  return {
    key: Buffer.from(item.key),
    valueSha256: sha256(item.value),
    flags: item.flags,
    exptime: item.exptime,
  };
}

export async function sampleBackup(
  path: string,
  totalItems: number,
  sampleSize: number,
): Promise<SampledItem[]> {
  const every = Math.max(1, Math.floor(totalItems / Math.max(1, sampleSize)));
  const sample: SampledItem[] = [];
  let index = 0;
  for await (const item of readBackupItems(path)) {
    if (index++ % every === 0 && sample.length < sampleSize) {
      sample.push(sampledItem(item));
    }
  }
  return sample;
}

export async function compareSample(
  client: MetaClient,
  backupPath: string,
  totalItems: number,
  sampleSize: number,
  toleranceSeconds = ttlToleranceSeconds,
  /** Keys that may rightly differ (clients changed them): not compared. */
  skip?: (key: Buffer) => boolean,
): Promise<SampleResult> {
  const sample = await sampleBackup(backupPath, totalItems, sampleSize);
  const compared = skip ? sample.filter((item) => !skip(item.key)) : sample;
  return compareItems(client, compared, await client.serverClock(), toleranceSeconds);
}

/**
 * Reads `items` back from the instance; an item whose expiry has passed (or is
 * within 2 s) is not compared. Items whose only difference is their expiry are
 * read once more against a fresh read of the server's clock: `mg t` answers in
 * memcached's `current_time`, which a one-second timer on its main thread moves,
 * and on a starved host `stats` was read while that clock lagged by 3–4 s and
 * had caught up by the reads (5 of 500 lab hosts at load 37: every item with an
 * expiry 3–4 s early). A stored expiry that is really off stays off.
 */
export async function compareItems(
  client: MetaClient,
  items: readonly SampledItem[],
  clock: ServerClock,
  toleranceSeconds = ttlToleranceSeconds,
): Promise<SampleResult> {
  const live = items.filter((item) => item.exptime === 0 || item.exptime > clock.now() + toleranceSeconds);
  const first = await readAndCompare(client, live, clock, toleranceSeconds);
  const onlyExpiry = live.filter((item) => first.get(item.key.toString('latin1'))?.every(isExpiryProblem));
  const readTwice = new Set(onlyExpiry.map((item) => item.key.toString('latin1')));
  const second =
    onlyExpiry.length > 0
      ? await readAndCompare(client, onlyExpiry, await client.serverClock(), toleranceSeconds)
      : new Map<string, string[]>();
  const mismatches: string[] = [];
  for (const item of live) {
    const id = item.key.toString('latin1');
    const problems = readTwice.has(id) ? second.get(id) : first.get(id);
    if (problems) mismatches.push(`${displayKey(item.key)}: ${problems.join(', ')}`);
  }
  return { compared: live.length, mismatches };
}

const expiryProblem = /^expiry \d+, backup \d+$/;
const isExpiryProblem = (problem: string) => expiryProblem.test(problem);

/** Each differing item's problems, by key (latin1); an item that matches has no entry. */
async function readAndCompare(
  client: MetaClient,
  items: readonly SampledItem[],
  clock: ServerClock,
  toleranceSeconds: number,
): Promise<Map<string, string[]>> {
  const expected = new Map(items.map((item) => [item.key.toString('latin1'), item]));
  const found = new Map<string, string[]>();
  const seen = new Set<string>();
  await client.fetchItems(
    items.map((item) => ({ key: item.key })),
    (got) => {
      const id = got.key.toString('latin1');
      seen.add(id);
      const want = expected.get(id);
      if (!want) return;
      const problems: string[] = [];
      if (sha256(got.value) !== want.valueSha256) problems.push('value differs');
      if (got.flags !== want.flags) problems.push(`flags ${got.flags}, backup ${want.flags}`);
      if (Math.abs(got.exptime - want.exptime) > toleranceSeconds) {
        problems.push(`expiry ${got.exptime}, backup ${want.exptime}`);
      }
      if (problems.length) found.set(id, problems);
    },
    { clock },
  );
  for (const item of items) {
    const id = item.key.toString('latin1');
    if (!seen.has(id)) found.set(id, ['missing']);
  }
  return found;
}

/**
 * Stores, deletes, incr/decr, touches and cas that hit since the instance started
 * (its own counters): an upper bound on the keys clients changed on it, for a
 * comparison nothing watched from the start (a warm restart's proof, verify after it).
 */
export function clientChangesSinceStart(stats: ReadonlyMap<string, string>): number {
  const counters = ['cmd_set', 'delete_hits', 'incr_hits', 'decr_hits', 'touch_hits', 'cas_hits'];
  return counters.reduce((sum, name) => sum + Number(stats.get(name) ?? 0), 0);
}

/**
 * How many of `compared` sampled items may differ because clients changed them:
 * the sample is spread evenly over `items`, so of `changes` client changes about
 * compared × changes / items land on sampled keys. Three times that, plus 3, and
 * never more than the changes: a restart that came back wrong differs in far more
 * however busy the clients are.
 */
export function toleratedDifferences(compared: number, changes: number, items: number): number {
  if (changes <= 0) return 0;
  return Math.min(changes, Math.ceil((3 * compared * changes) / Math.max(1, items)) + 3);
}
