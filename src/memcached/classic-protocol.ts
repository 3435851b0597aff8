import type { Duplex } from 'node:stream';
import { addBinaryKeys, BinaryFetchError, fetchBinaryKeys } from './binary-fetch.js';
import { displayKey } from './key-encoding.js';
import type { FetchCounts, FetchedItem, FetchRequest, StoreCounts, StoreItem } from './meta-client.js';
import { MetaProtocolError } from './meta-connection.js';

// What MetaClient speaks to memcached before 1.6.10, which has no meta
// protocol memplay can use: the classic text protocol's `gets` (value, flags,
// cas) with each key's expiry from metadump, and the binary protocol for keys
// the text protocol cannot name (a space or control byte).

/**
 * The item as read, with metadump's expiry. A value set after metadump listed
 * it may carry another expiry than the one listed: it keeps the listed cas, so
 * the next pass (or the fence's last look) sees a change and reads it again.
 */
function itemFromListing(request: FetchRequest, value: Buffer, flags: number, casNow: number): FetchedItem {
  const listedCas = request.cas;
  return {
    key: request.key,
    value,
    flags,
    exptime: request.exptime ?? 0,
    cas: listedCas !== undefined && listedCas !== casNow ? listedCas : casNow,
  };
}

/** The handler of one `gets` reply: `VALUE …` and its data, then `END`; or `END` alone, a miss. */
export function getsReply<R extends FetchRequest>(
  request: R,
  counts: FetchCounts,
  onItem: (item: FetchedItem, request: R) => void | Promise<void>,
  onMissing: ((request: R) => void) | undefined,
  failed: (error: Error) => void,
): (line: string, value: Buffer | undefined) => boolean | Promise<boolean> {
  let found = false;
  return (line, value) => {
    if (value !== undefined && line.startsWith('VALUE ') && !found) {
      found = true;
      const [, , flags, , cas] = line.split(' ');
      counts.fetched++;
      counts.valueBytes += value.length;
      const pending = onItem(itemFromListing(request, value, Number(flags), Number(cas)), request);
      return pending ? pending.then(() => false) : false;
    }
    if (line === 'END') {
      if (!found) {
        counts.missing++;
        onMissing?.(request);
      }
      return true;
    }
    failed(new MetaProtocolError(`gets ${displayKey(request.key)}: memcached replied ${line.slice(0, 200)}`));
    return true;
  };
}

/**
 * Keys the text protocol cannot name, read through the binary protocol on
 * `stream` (binary-fetch.ts), expiry from metadump as for `gets`. A server that
 * refuses the binary protocol (`-B ascii`) leaves them named as unaddressable.
 */
export async function fetchBinaryOnly<R extends FetchRequest>(
  stream: Duplex,
  requests: readonly R[],
  counts: FetchCounts,
  onItem: (item: FetchedItem, request: R) => void | Promise<void>,
  onMissing: ((request: R) => void) | undefined,
): Promise<void> {
  let answered = 0;
  try {
    await fetchBinaryKeys(
      stream,
      requests.map((request) => request.key),
      (i, found) => {
        answered = i + 1;
        const request = requests[i] as R;
        if (!found) {
          counts.missing++;
          onMissing?.(request);
          return undefined;
        }
        counts.fetched++;
        counts.valueBytes += found.value.length;
        return onItem(itemFromListing(request, found.value, found.flags, found.cas), request) ?? undefined;
      },
    );
  } catch (error) {
    if (!(error instanceof BinaryFetchError)) throw error;
    for (const request of requests.slice(answered)) counts.unaddressable.push(displayKey(request.key));
  }
}

/**
 * storeItems' keys the text protocol cannot name, added through the binary
 * protocol on `stream` (each item's exptime is the TTL to send); without the
 * binary protocol they stay unaddressable.
 */
export async function addBinaryOnly(
  stream: Duplex,
  items: readonly StoreItem[],
  counts: StoreCounts,
): Promise<void> {
  let answered = 0;
  try {
    await addBinaryKeys(stream, items, (i, outcome) => {
      answered = i + 1;
      const item = items[i] as StoreItem;
      if (outcome === 'stored') {
        counts.stored++;
        counts.valueBytes += item.value.length;
      } else if (outcome === 'kept-newer') counts.keptNewer++;
      else if (outcome === 'too-large') counts.tooLarge.push(displayKey(item.key));
      else counts.outOfMemory.push(displayKey(item.key));
    });
  } catch (error) {
    if (!(error instanceof BinaryFetchError)) throw error;
    for (const item of items.slice(answered)) counts.unaddressable.push(displayKey(item.key));
  }
}
