import { rm } from 'node:fs/promises';
import type { Lab, LabHost } from '../../test/lab/index.js';
import {
  ensureBuild,
  memoryFileArgs,
  removeMemoryFile,
  resetHost,
  startWithArgs,
} from '../../test/lab/index.js';
import { generateItems, loopbackConnection } from '../../test/lab/items/generator.js';
import { loadUniform } from '../bench/load.js';

// What a live run does to its hosts before and after the measured part: the
// baseline started with the cache size the run needs, the data set written,
// and afterwards every trace of the run (memory files included) taken away.

/** The cache one row carries: the adversarial set, or ~1 GB of uniform items. */
export type CacheSize =
  | {
      readonly kind: 'generated';
      readonly count: number;
      readonly totalBytes: number;
      readonly memoryMb: number;
    }
  | {
      readonly kind: 'uniform';
      readonly items: number;
      readonly valueSize: number;
      readonly memoryMb: number;
    };

export function describeSize(size: CacheSize): string {
  return size.kind === 'generated'
    ? `${size.count.toLocaleString('en-US')} items / ${Math.round(size.totalBytes / 1e6)} MB`
    : `${size.items.toLocaleString('en-US')} items / ${((size.items * size.valueSize) / 1e9).toFixed(1)} GB`;
}

/** `-l 127.0.0.1 -m <memoryMb>`, with the host's memory file for a warm restart. */
export function baselineArgs(host: LabHost, size: CacheSize, memoryFile: boolean): string[] {
  return memoryFile ? memoryFileArgs(host, size.memoryMb) : ['-l', '127.0.0.1', '-m', String(size.memoryMb)];
}

/** Where a handover leaves memcached running: swap.memory_file's default. */
export function handoverFile(host: LabHost): string {
  return `/dev/shm/memcached-${host.memcachedPort}.mem`;
}

/** The host at baseline, its memory files gone, and no build but the baseline's. */
export async function cleanHost(lab: Lab, host: LabHost): Promise<void> {
  await removeMemoryFile(host);
  const file = handoverFile(host);
  for (const path of [file, `${file}.meta`, `${file}.memplay-handover`]) await rm(path, { force: true });
  await resetHost(lab, host.index);
}

/**
 * A clean host running the baseline with `args`, the builds the row upgrades to
 * already in place (no compile inside a measurement), and its cache loaded.
 */
export async function prepareHost(
  lab: Lab,
  host: LabHost,
  args: readonly string[],
  targets: readonly string[],
  size: CacheSize,
  seed: number,
): Promise<void> {
  await cleanHost(lab, host);
  for (const version of targets) await ensureBuild(host, version);
  await startWithArgs(host, lab.baselineVersion, args);
  if (size.kind === 'generated') {
    await generateItems(loopbackConnection(host.memcachedPort), {
      seed,
      count: size.count,
      totalBytes: size.totalBytes,
    });
  } else {
    await loadUniform(host.memcachedPort, { items: size.items, valueSize: size.valueSize });
  }
}
