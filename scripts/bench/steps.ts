import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage } from '../../src/errors.js';
import { restoreBackup } from '../../src/memcached/backup-pass.js';
import { verifyBackup } from '../../src/memcached/backup-reader.js';
import type { Lab, LabHost } from '../../test/lab/index.js';
import { memcachedStats, resetLab, writeFleetPlaybook } from '../../test/lab/index.js';
import {
  compareDigests,
  digestItems,
  type GeneratedSet,
  generateItems,
  type ItemDigest,
} from '../../test/lab/items/generator.js';
import { type ApplyRun, applyPlaybook } from './apply.js';
import type { BackupRequest, BackupRun } from './backup-child.js';
import { directFactory } from './direct-factory.js';
import { ensureBuild, restartWithMemory } from './lab-host.js';
import { loadUniform, type UniformLoad } from './load.js';
import {
  dumpWithMemcachedTool,
  pipeDumpIntoPort,
  type ToolDump,
  type ToolRestore,
  textCommand,
} from './memcached-tool.js';
import { runOk } from './process.js';
import { type Ceiling, channelCeiling, restoreOver, type Timed } from './reference.js';
import { connectThroughSsh } from './tunnel.js';

export { directFactory };

// The four measurements, each on host1 of the lab. Setup (loading items,
// resets, digests) is never inside a timed span.

export const DATA_SET = { seed: 1201, count: 100_000, totalBytes: 120_000_000 } as const;
export const BIG_CACHE = { memoryMb: 1200, items: 770_000, valueSize: 1300 } as const;

export interface Bench {
  readonly lab: Lab;
  readonly host: LabHost;
  /** Lists host1 only: `memplay apply` on it touches nothing else. */
  readonly playbook: string;
  readonly workDir: string;
  readonly log: (message: string) => void;
  /** Failures that a second attempt got past: reported, not fatal. */
  readonly failures: { step: string; message: string }[];
}

export interface CacheState {
  readonly version: string | null;
  readonly currItems: number;
  readonly bytes: number;
  readonly evictions: number;
  readonly limitMaxbytes: number;
}

export async function cacheState(port: number): Promise<CacheState> {
  const stats = await memcachedStats(port);
  if (!stats) throw new Error(`bench: 127.0.0.1:${port} does not answer stats`);
  return {
    version: stats.version ?? null,
    currItems: Number(stats.curr_items),
    bytes: Number(stats.bytes),
    evictions: Number(stats.evictions),
    limitMaxbytes: Number(stats.limit_maxbytes),
  };
}

export async function prepare(lab: Lab, log: (message: string) => void): Promise<Bench & { build: string }> {
  const host = lab.hosts[0];
  if (!host) throw new Error('bench: the lab has no host1');
  const build = await ensureBuild(host, lab.targetVersion);
  log(`${lab.targetVersion} build on ${host.name}: ${build}`);
  const playbook = await writeFleetPlaybook(lab, { hosts: [1] });
  const workDir = join(lab.dir, 'bench');
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  return { lab, host, playbook, workDir, log, build, failures: [] };
}

async function backToBaseline(bench: Bench): Promise<void> {
  await resetLab(bench.lab, { keepBuilds: [bench.lab.targetVersion] });
}

export interface LoadedDataSet {
  readonly generated: GeneratedSet;
  readonly loadMs: number;
  readonly state: CacheState;
}

async function loadDataSet(bench: Bench): Promise<LoadedDataSet> {
  const started = performance.now();
  const generated = await generateItems(directFactory(bench.host.memcachedPort), DATA_SET);
  const loadMs = performance.now() - started;
  return { generated, loadMs, state: await cacheState(bench.host.memcachedPort) };
}

const backupChild = fileURLToPath(new URL('./backup-child.js', import.meta.url));

/**
 * The Node flags on bin/memplay.js's shebang line (`#!/usr/bin/env -S node …`),
 * so a backup child's memory behaves as the memplay command's does.
 */
async function memplayNodeFlags(repoRoot: string): Promise<string[]> {
  const firstLine = (await readFile(join(repoRoot, 'bin', 'memplay.js'), 'utf8')).split('\n', 1)[0] ?? '';
  const words = firstLine.split(/\s+/);
  return words.slice(words.indexOf('node') + 1).filter((word) => word.startsWith('--'));
}

/**
 * A backup in a process of its own. A failed attempt is tried once more (a
 * transient failure should not cost the whole measurement) and kept in
 * `bench.failures`, so the report still shows it.
 */
async function backupInChild(
  bench: Bench,
  dir: string,
  step: string,
  via: { tcpPort?: number } = {},
): Promise<BackupRun> {
  const request: BackupRequest = { playbook: bench.playbook, host: bench.host.name, dir, ...via };
  for (let attempt = 1; ; attempt++) {
    try {
      const flags = await memplayNodeFlags(bench.lab.repoRoot);
      const finished = await runOk(process.execPath, [...flags, backupChild, JSON.stringify(request)], {
        timeoutMs: 180_000,
      });
      return JSON.parse(finished.stdout.trim().split('\n').pop() ?? '') as BackupRun;
    } catch (error) {
      if (attempt >= 2) throw error;
      const message = errorMessage(error);
      bench.log(`${step}: the backup failed, trying once more: ${message}`);
      bench.failures.push({ step, message });
    }
  }
}

export interface BackupAndRestore {
  readonly dataSet: LoadedDataSet;
  readonly memplayBackup: BackupRun;
  readonly toolDump: ToolDump;
  readonly memplayRestore: {
    readonly wallMs: number;
    /** verifyBackup alone (restoreBackup runs it first). */
    readonly verifyMs: number;
    readonly stored: number;
    readonly valueBytes: number;
    readonly expiredSkipped: number;
    readonly failed: number;
    /** Items whose value, flags or exptime differ from the loaded set, or missing. */
    readonly differences: readonly string[];
  };
  readonly toolRestore: ToolRestore;
  /** The same backup over plain TCP, in a child: memplay's code without SSH, and its CPU time. */
  readonly directBackup: BackupRun;
  /** The same restore over plain TCP. */
  readonly directRestore: Timed;
  readonly ceiling: Ceiling;
}

/** Steps 1 and 2: the same 120 MB backed up and restored both ways. */
export async function backupAndRestore(bench: Bench): Promise<BackupAndRestore> {
  const port = bench.host.memcachedPort;
  await backToBaseline(bench);
  bench.log(`loading ${DATA_SET.count} items / ${DATA_SET.totalBytes / 1e6} MB into ${bench.host.name}`);
  const dataSet = await loadDataSet(bench);
  const expected = await sourceDigest(port);

  // The ceiling first, then memplay's pass right after it, so both see the same machine.
  bench.log("1. backup: what one forwarded channel carries (the tunnel's ceiling)");
  const ceiling = await channelCeiling(bench.playbook, bench.host.name, directFactory(port));
  bench.log('1. backup: memplay full pass through the ssh tunnel');
  const memplayBackup = await backupInChild(bench, join(bench.workDir, 'backups'), '1 backup');
  bench.log("1. backup: the same pass over plain TCP: memplay's per-item cost");
  const directBackup = await backupInChild(
    bench,
    join(bench.workDir, 'backups-direct'),
    '1 backup over tcp',
    {
      tcpPort: port,
    },
  );
  await rm(directBackup.path, { force: true });
  bench.log('1. backup: memcached-tool dump');
  const dumpFile = join(bench.workDir, 'memcached-tool.dump');
  const toolDump = await dumpWithMemcachedTool(port, dumpFile);

  bench.log('2. restore: memplay restoreBackup through the ssh tunnel');
  await flush(port);
  const verifyStarted = performance.now();
  const verification = await verifyBackup(memplayBackup.path);
  if (!verification.ok) throw verification.error;
  const verifyMs = performance.now() - verifyStarted;
  const link = await connectThroughSsh(bench.playbook, bench.host.name);
  let restored: Awaited<ReturnType<typeof restoreBackup>>;
  let wallMs: number;
  try {
    const started = performance.now();
    restored = await restoreBackup(link.client, memplayBackup.path, { mode: 'add' });
    wallMs = performance.now() - started;
  } finally {
    await link.close();
  }
  const differences = await differencesFrom(expected, port);
  bench.log('2. restore: the same over plain TCP, for reference');
  await flush(port);
  const directRestore = await restoreOver(directFactory(port), memplayBackup.path);

  bench.log('2. restore: memcached-tool dump piped into the port');
  await flush(port);
  const toolRestore = await pipeDumpIntoPort(port, dumpFile);
  return {
    dataSet,
    memplayBackup,
    toolDump,
    memplayRestore: {
      wallMs,
      verifyMs,
      stored: restored.stored,
      valueBytes: restored.valueBytes,
      expiredSkipped: restored.expiredSkipped,
      failed: restored.tooLarge.length + restored.outOfMemory.length + restored.unaddressable.length,
      differences,
    },
    // Every record is an add of a flushed key, so what was stored is what the dump holds.
    toolRestore,
    directBackup,
    directRestore,
    ceiling,
  };
}

// digestItems lists keys with `lru_crawler metadump all`, which can pass over an
// item the LRU is moving: one listing may miss a few keys. The source is listed
// twice and merged; a difference counts only if a second look confirms it.

async function sourceDigest(port: number): Promise<Map<string, ItemDigest>> {
  const first = await digestItems(directFactory(port));
  for (const [key, digest] of await digestItems(directFactory(port)))
    if (!first.has(key)) first.set(key, digest);
  return first;
}

async function differencesFrom(expected: ReadonlyMap<string, ItemDigest>, port: number): Promise<string[]> {
  const first = compareDigests(expected, await digestItems(directFactory(port)));
  if (first.length === 0) return first;
  const again = new Set(compareDigests(expected, await digestItems(directFactory(port))));
  return first.filter((difference) => again.has(difference));
}

async function flush(port: number): Promise<void> {
  const reply = await textCommand(port, 'flush_all');
  if (reply !== 'OK') throw new Error(`bench: flush_all on 127.0.0.1:${port}: ${reply}`);
}

export interface UpgradeWindow {
  readonly dataSet: LoadedDataSet;
  readonly apply: ApplyRun;
  readonly after: CacheState;
}

/** Step 3: `memplay apply` on host1 with the data set loaded; the target build is already there. */
export async function upgradeWindow(bench: Bench): Promise<UpgradeWindow> {
  await backToBaseline(bench);
  bench.log(`3. upgrade: loading ${DATA_SET.count} items, then memplay apply on ${bench.host.name}`);
  const dataSet = await loadDataSet(bench);
  const backupDir = join(bench.lab.dir, 'backups', bench.host.name);
  const before = new Set(await readdir(backupDir).catch(() => []));
  const apply = await applyPlaybook(bench.lab.repoRoot, bench.playbook, bench.host.name);
  // The backup apply took is the bench's, not a user's: 120 MB a run otherwise.
  for (const name of await readdir(backupDir).catch(() => [])) {
    if (!before.has(name)) await rm(join(backupDir, name), { force: true });
  }
  if (apply.exitCode !== 0) {
    const failed = apply.tasks.find((t) => t.status === 'failed');
    throw new Error(
      `memplay apply exited ${apply.exitCode}${failed ? `: ${failed.task}: ${failed.detail}` : ''}\n${apply.stderr.trim().slice(-1000)}`,
    );
  }
  return { dataSet, apply, after: await cacheState(bench.host.memcachedPort) };
}

export interface ControllerMemory {
  readonly load: UniformLoad;
  readonly state: CacheState;
  /** The full pass alone, in a child process (no delta pass, no CLI). */
  readonly backup: BackupRun;
  /** `memplay backup` as a user runs it: full pass, delta pass, seal. */
  readonly cli: CliBackup;
}

export interface CliBackup {
  readonly wallMs: number;
  /** From the recap event: the kernel's max RSS of the memplay process. */
  readonly peakRssBytes: number;
  readonly detail: string;
}

/** `bin/memplay.js backup` run as an executable, so its shebang's Node flags apply as they do for users. */
async function cliBackup(bench: Bench): Promise<CliBackup> {
  const backupDir = join(bench.lab.dir, 'backups', bench.host.name);
  const before = new Set(await readdir(backupDir).catch(() => []));
  try {
    const finished = await runOk(
      join(bench.lab.repoRoot, 'bin', 'memplay.js'),
      ['backup', bench.playbook, '--output', 'json'],
      { cwd: bench.lab.repoRoot, timeoutMs: 300_000 },
    );
    const events = finished.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map(
        (line) =>
          JSON.parse(line) as {
            event: string;
            task?: string;
            detail?: string;
            controller_peak_rss_bytes?: number;
          },
      );
    const recap = events.find((e) => e.event === 'recap');
    if (recap?.controller_peak_rss_bytes === undefined)
      throw new Error('memplay backup: no peak RSS in its recap');
    return {
      wallMs: finished.wallMs,
      peakRssBytes: recap.controller_peak_rss_bytes,
      detail: events.find((e) => e.event === 'task' && e.task === 'backup')?.detail ?? '',
    };
  } finally {
    for (const name of await readdir(backupDir).catch(() => [])) {
      if (!before.has(name)) await rm(join(backupDir, name), { force: true });
    }
  }
}

/** Step 4: a ~1 GB cache backed up by a process of its own, whose peak RSS is read. */
export async function controllerMemory(bench: Bench): Promise<ControllerMemory> {
  await backToBaseline(bench);
  bench.log(`4. memory: restarting ${bench.host.name} with -m ${BIG_CACHE.memoryMb}, loading ~1 GB`);
  await restartWithMemory(bench.host, BIG_CACHE.memoryMb);
  const load = await loadUniform(bench.host.memcachedPort, {
    items: BIG_CACHE.items,
    valueSize: BIG_CACHE.valueSize,
  });
  const state = await cacheState(bench.host.memcachedPort);
  bench.log('4. memory: memplay full pass in a child process');
  const backup = await backupInChild(bench, join(bench.workDir, 'backups-1g'), '4 controller memory');
  await rm(backup.path, { force: true });
  bench.log('4. memory: memplay backup, the command as a user runs it');
  const cli = await cliBackup(bench);
  return { load, state, backup, cli };
}

/** The lab as labUp leaves it, and the bench's files gone. */
export async function cleanUp(bench: Bench): Promise<void> {
  await resetLab(bench.lab);
  await rm(bench.workDir, { recursive: true, force: true });
}
