import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../../src/errors.js';
import type { Lab } from '../../test/lab/index.js';
import {
  memoryFilePath,
  removeMemoryFile,
  resetLab,
  startWithArgs,
  writeFleetPlaybook,
} from '../../test/lab/index.js';
import { generateItems, loopbackConnection } from '../../test/lab/items/generator.js';
import { applyPlaybook } from './apply.js';
import { loadUniform } from './load.js';
import { BIG_CACHE, cacheState, DATA_SET } from './steps.js';

// Step 5: out-of-service time of one host, warm restart against cold (backup,
// stop, start, restore), at ~120 MB (the adversarial data set) and ~1 GB
// (uniform items). The old instance runs 1.6.18 on a memory file in /dev/shm;
// the same playbook runs with swap.mode warm, then cold, on the same data.

export interface WarmColdRow {
  readonly size: '~120 MB' | '~1 GB';
  readonly mode: 'warm' | 'cold';
  /** What the swap event reports as taken (a warm fallback would say cold). */
  readonly taken: string;
  readonly items: number;
  readonly valueBytes: number;
  /** From the events: until the host served its data again (warm: proven; cold: restored). */
  readonly outOfServiceMs: number;
  readonly itemsAfter: number;
  readonly applyWallMs: number;
  /** Why this row has no figures (the others still run). */
  readonly error?: string;
}

const sizes = [
  { size: '~120 MB', memoryMb: 256 },
  { size: '~1 GB', memoryMb: BIG_CACHE.memoryMb },
] as const;

export async function warmAgainstCold(lab: Lab, log: (message: string) => void): Promise<WarmColdRow[]> {
  const host = lab.hosts[0];
  if (!host) throw new Error('bench: the lab has no host1');
  const rows: WarmColdRow[] = [];
  for (const { size, memoryMb } of sizes) {
    for (const mode of ['warm', 'cold'] as const) {
      try {
        rows.push(await measure(lab, log, size, memoryMb, mode));
      } catch (error) {
        const message = errorMessage(error);
        log(`5. ${size} ${mode} broke: ${message}`);
        rows.push({
          size,
          mode,
          taken: '-',
          items: 0,
          valueBytes: 0,
          outOfServiceMs: Number.NaN,
          itemsAfter: 0,
          applyWallMs: Number.NaN,
          error: message,
        });
      }
    }
  }
  await removeMemoryFile(host);
  return rows;
}

async function measure(
  lab: Lab,
  log: (message: string) => void,
  size: WarmColdRow['size'],
  memoryMb: number,
  mode: 'warm' | 'cold',
): Promise<WarmColdRow> {
  const host = lab.hosts[0];
  if (!host) throw new Error('bench: the lab has no host1');
  const backupDir = join(lab.dir, 'backups', host.name);
  await resetLab(lab, { keepBuilds: [lab.targetVersion] });
  await removeMemoryFile(host);
  const args = ['-l', '127.0.0.1', '-m', String(memoryMb), '-e', memoryFilePath(host)];
  await startWithArgs(host, lab.baselineVersion, args);
  log(`5. ${size} ${mode}: loading`);
  if (size === '~120 MB') await generateItems(loopbackConnection(host.memcachedPort), DATA_SET);
  else await loadUniform(host.memcachedPort, { items: BIG_CACHE.items, valueSize: BIG_CACHE.valueSize });
  const before = await cacheState(host.memcachedPort);
  const playbook = await writeFleetPlaybook(lab, { hosts: [1], memcachedArgs: args, swapMode: mode });
  const kept = new Set(await readdir(backupDir).catch(() => []));
  log(`5. ${size} ${mode}: memplay apply`);
  // A 1 GB cold run backs up and restores 1 GB through SSH on a shared machine.
  const apply = await applyPlaybook(lab.repoRoot, playbook, host.name, 1_200_000);
  for (const name of await readdir(backupDir).catch(() => [])) {
    if (!kept.has(name)) await rm(join(backupDir, name), { force: true });
  }
  if (apply.exitCode !== 0) {
    const failed = apply.tasks.find((t) => t.status === 'failed');
    throw new Error(`5. ${size} ${mode}: memplay apply exited ${apply.exitCode}: ${failed?.detail ?? ''}`);
  }
  const swap = apply.tasks.find((t) => t.task === 'swap');
  const after = await cacheState(host.memcachedPort);
  return {
    size,
    mode,
    taken: swap?.swapMode ?? '?',
    items: before.currItems,
    valueBytes: before.bytes,
    outOfServiceMs: apply.hostOutOfServiceMs ?? Number.NaN,
    itemsAfter: after.currItems,
    applyWallMs: apply.wallMs,
  };
}
