import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RunEvent } from '../../src/report/events.js';
import {
  ensureBuild,
  type Lab,
  memcachedStats,
  memcachedVersion,
  memoryFileArgs,
  preloadTraffic,
  removeMemoryFile,
  resetHost,
  startTraffic,
  startWithArgs,
  type TrafficReport,
  writeFleetPlaybook,
} from '../lab/index.js';
import { compareDigests, digestItems, generateItems, loopbackConnection } from '../lab/items/generator.js';
import { recapOf, runMemplay, taskEvents } from './memplay-cli.js';

// Every data path judged as a client sees it: a real client library (memjs)
// reads, writes and deletes at ≥ 300 ops/s while `memplay apply` carries the
// cache over, and remembers every acknowledgement. A client may miss; it may
// never read a value older than one it wrote, nor a key it deleted.

const lab = inject('lab') as Lab;
const host = lab.hosts[0]!;
const port = host.memcachedPort;
const direct = () => loopbackConnection(port);
const handoverFile = `/dev/shm/memcached-${port}.mem`;

function staleSeen(report: TrafficReport): number {
  return report.staleReads + report.resurrectedDeletes + report.foreignValues;
}

function describeTraffic(report: TrafficReport): string {
  return `traffic: ${report.ops} ops at ${report.opsPerSecond.toFixed(0)}/s, stale ${report.staleReads} (${report.staleKeys} keys), resurrected ${report.resurrectedDeletes} (${report.resurrectedKeys} keys), foreign ${report.foreignValues}, lost writes ${report.lostWrites}, errors ${report.errors}, longest error stretch ${report.longestErrorStretchMs} ms; ${report.examples.slice(0, 3).join(' | ')}`;
}

function task(events: RunEvent[], name: string) {
  return events.find((e): e is Extract<RunEvent, { event: 'task' }> => e.event === 'task' && e.task === name);
}

/** Runs apply while the traffic runs; the traffic starts first and stops after memplay has exited. */
async function applyUnderTraffic(
  playbook: string,
  options: { hotKey?: boolean; keys?: number } = {},
): Promise<{ run: Awaited<ReturnType<typeof runMemplay>>; report: TrafficReport }> {
  const keyspace = await preloadTraffic(port, { keys: options.keys ?? 3_000 });
  const traffic = startTraffic(port, keyspace, {
    opsPerSecond: 400,
    seed: 7,
    ...(options.hotKey ? { hotKey: { key: 'traffic:hot', writesPerSecond: 1000 } } : {}),
  });
  await new Promise((resolve) => setTimeout(resolve, 500));
  const run = await runMemplay(['apply', playbook, '--output', 'json']);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const report = await traffic.stop();
  // The figures of every scenario, for the record (the bench measures them at scale: npm run bench:live).
  console.info(`${playbook}: ${describeTraffic(report)}; recap ${JSON.stringify(run.events.at(-1))}`);
  return { run, report };
}

/** host1 on 1.6.18 with 64 MB, filled past its memory: evicting before memplay starts, as a production cache is. */
async function fullCache(seed: number) {
  await startWithArgs(host, '1.6.18', fullCacheArgs);
  await generateItems(direct(), { seed, count: 70_000, totalBytes: 96 * 1024 * 1024 });
  const stats = await memcachedStats(port);
  expect(Number(stats?.evictions), 'the cache must be evicting before memplay starts').toBeGreaterThan(0);
  return stats;
}
const fullCacheArgs = ['-l', '127.0.0.1', '-m', '64'];

describe('upgrades under live client traffic', () => {
  beforeAll(async () => {
    await Promise.all(['1.6.38', '1.6.45'].map((version) => ensureBuild(host, version)));
  });
  afterAll(async () => {
    await removeMemoryFile(host);
    for (const path of [handoverFile, `${handoverFile}.meta`, `${handoverFile}.memplay-handover`])
      await rm(path, { force: true });
    await resetHost(lab, 1);
  });

  it('cold 1.6.18 → 1.6.38 at 400 ops/s: no client reads a stale value or a deleted key, and the recap never counts fewer possibly stale values than clients saw', async () => {
    await resetHost(lab, 1);
    await generateItems(direct(), { seed: 31, count: 20_000, totalBytes: 16 * 1024 * 1024 });
    const playbook = await writeFleetPlaybook(lab, {
      hosts: [1],
      swapMode: 'cold',
    });
    const { run, report } = await applyUnderTraffic(playbook);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(report.opsPerSecond, describeTraffic(report)).toBeGreaterThanOrEqual(300);
    // Nothing older than a client's own write comes from the old side: the fence left it out.
    expect(report.staleReads + report.foreignValues, describeTraffic(report)).toBe(0);
    const recap = recapOf(run).host1;
    expect(recap).toMatchObject({ failed: 0, swap_mode: 'cold' });
    // A delete that missed on the new instance before its key was restored can come back:
    // the cold path's one admitted gap, counted beforehand and never undercounted.
    expect(recap?.possibly_stale, describeTraffic(report)).toBeGreaterThanOrEqual(
      report.staleKeys + report.resurrectedKeys,
    );
    // Writes lost are only those memplay made a miss on purpose, and it says how many.
    expect(report.lostWrites, describeTraffic(report)).toBeLessThanOrEqual(recap?.left_out ?? 0);
    // The fence ran: the backup followed the clients' changes up to the old instance's exit.
    expect(task(run.events, 'swap')?.detail).toMatch(/cold/);
    expect(task(run.events, 'restore')?.detail).toMatch(/^restored [\d,]+ items/);
  });

  it('warm 1.6.18 → 1.6.45 on a memory file at 400 ops/s: the resumed cache passes its proof, no stale value, no resurrected delete, no acknowledged write lost', async () => {
    await removeMemoryFile(host);
    await startWithArgs(host, '1.6.18', memoryFileArgs(host));
    await generateItems(direct(), { seed: 32, count: 20_000, totalBytes: 16 * 1024 * 1024 });
    const playbook = await writeFleetPlaybook(lab, {
      hosts: [1],
      version: '1.6.45',
      memcachedArgs: memoryFileArgs(host),
    });
    const { run, report } = await applyUnderTraffic(playbook);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const swap = task(run.events, 'swap');
    expect(swap?.swap_mode, swap?.detail).toBe('warm');
    expect(swap?.detail).toMatch(/warm: [\d,]+ items ≥ [\d,]+ live in the backup/);
    expect(report.opsPerSecond, describeTraffic(report)).toBeGreaterThanOrEqual(300);
    expect(staleSeen(report), describeTraffic(report)).toBe(0);
    expect(report.finalStale + report.finalResurrected, describeTraffic(report)).toBe(0);
    expect(report.lostWrites, describeTraffic(report)).toBe(0);
    expect(recapOf(run).host1).toMatchObject({ failed: 0, swap_mode: 'warm', possibly_stale: 0 });
    await removeMemoryFile(host);
  });

  it('handover 1.6.18 → 1.6.38 at 400 ops/s with a hot key written 1,000 times a second: no stale value, no resurrected delete; the new build keeps its memory file and a re-run changes nothing', async () => {
    await resetHost(lab, 1);
    for (const path of [handoverFile, `${handoverFile}.meta`]) await rm(path, { force: true });
    await generateItems(direct(), { seed: 33, count: 20_000, totalBytes: 16 * 1024 * 1024 });
    const playbook = await writeFleetPlaybook(lab, {
      hosts: [1],
      swapMode: 'handover',
    });
    const check = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(task(check.events, 'swap')?.detail).toMatch(
      /^handover: start 1\.6\.38 beside 1\.6\.18 on port \d+, .* memcached keeps running on the memory file afterwards/,
    );
    const { run, report } = await applyUnderTraffic(playbook, { hotKey: true });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const swap = task(run.events, 'swap');
    expect(swap?.swap_mode, swap?.detail).toBe('handover');
    expect(report.opsPerSecond, describeTraffic(report)).toBeGreaterThanOrEqual(300);
    expect(report.hotKey?.writesPerSecond ?? 0).toBeGreaterThan(500);
    expect(staleSeen(report), describeTraffic(report)).toBe(0);
    expect(report.finalStale + report.finalResurrected, describeTraffic(report)).toBe(0);
    expect(recapOf(run).host1).toMatchObject({ failed: 0, swap_mode: 'handover', possibly_stale: 0 });
    // Lost writes: only keys clients changed in the old instance's last moments, counted.
    expect(report.lostWrites, describeTraffic(report)).toBeLessThanOrEqual(recapOf(run).host1?.left_out ?? 0);
    const settings = await memcachedStats(port, 2_000, 'settings');
    expect(settings?.memory_file).toBe(handoverFile);
    const again = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(recapOf(again).host1).toMatchObject({ changed: 0, failed: 0 });
  });

  it('a full, evicting cache upgraded cold while idle: every item it held comes back exact, and memplay itself evicts nothing', async () => {
    await fullCache(41);
    const before = await digestItems(direct());
    const evictionsBefore = Number((await memcachedStats(port))?.evictions);
    const playbook = await writeFleetPlaybook(lab, {
      hosts: [1],
      swapMode: 'cold',
      memcachedArgs: fullCacheArgs,
    });
    const run = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const after = await digestItems(direct());
    const differences = compareDigests(before, after);
    expect(
      differences.slice(0, 5),
      `${differences.length} of ${before.size} items differ; ${taskEvents(run)
        .map((t) => `${t.task}: ${t.detail}`)
        .join(' | ')}`,
    ).toEqual([]);
    // The old instance's evictions as the backup sealed them: memplay's reads and gates allocate nothing.
    expect(task(run.events, 'backup')?.detail).not.toMatch(/evicted during the dump/);
    expect(evictionsBefore).toBeGreaterThan(0);
  });

  it('a full, evicting cache upgraded cold at 400 ops/s: no stale value from the old side, resurrected deletes within possibly_stale, lost writes within left_out', async () => {
    await fullCache(42);
    const playbook = await writeFleetPlaybook(lab, {
      hosts: [1],
      swapMode: 'cold',
      memcachedArgs: fullCacheArgs,
    });
    const { run, report } = await applyUnderTraffic(playbook);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(report.staleReads + report.foreignValues, describeTraffic(report)).toBe(0);
    const recap = recapOf(run).host1;
    expect(recap).toMatchObject({ failed: 0, swap_mode: 'cold' });
    expect(recap?.possibly_stale, describeTraffic(report)).toBeGreaterThanOrEqual(
      report.staleKeys + report.resurrectedKeys,
    );
  });

  it('rollback after a failed verify at 400 ops/s: the old build comes back with the backup, and no client reads a value older than it wrote or a key it deleted', async () => {
    await resetHost(lab, 1);
    await generateItems(direct(), { seed: 34, count: 20_000, totalBytes: 16 * 1024 * 1024 });
    // An impossible throughput threshold fails verify's performance gate after the restore.
    const playbook = await writeFleetPlaybook(lab, {
      hosts: [1],
      swapMode: 'cold',
      verify: { max_latency_regression: '5000%', min_throughput_ratio: 1000 },
    });
    const { run, report } = await applyUnderTraffic(playbook);
    expect(run.code, run.stdout + run.stderr).not.toBe(0);
    const rollback = task(run.events, 'rollback');
    expect(rollback?.status, rollback?.detail).toBe('changed');
    expect(rollback?.detail).toMatch(/^rolled back to 1\.6\.18, serving on port \d+ with [\d,]+ items/);
    expect(await memcachedVersion(port)).toBe('1.6.18');
    // What clients wrote to the new build is carried back: nothing older than a client's write.
    expect(report.staleReads + report.finalStale + report.foreignValues, describeTraffic(report)).toBe(0);
    // Both restores (forward, then back) ran into serving instances: their undone deletes are counted.
    expect(recapOf(run).host1?.possibly_stale ?? 0, describeTraffic(report)).toBeGreaterThanOrEqual(
      report.staleKeys + report.resurrectedKeys,
    );
  });

  it('handover --check on a host without room (its memory file not on a tmpfs): the host fails before anything changes, saying why and what to do', async () => {
    await resetHost(lab, 1);
    const pidBefore = (await memcachedStats(port))?.pid;
    const playbook = await writeFleetPlaybook(lab, {
      hosts: [1],
      swapMode: 'handover',
      memcachedArgs: ['-l', '127.0.0.1', '-m', '256', '-e', `${host.home}/memcached.mem`],
    });
    const check = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(check.code, check.stdout + check.stderr).not.toBe(0);
    const swap = task(check.events, 'swap');
    expect(swap?.status).toBe('failed');
    expect(swap?.detail).toMatch(
      new RegExp(`^swap\\.mode: handover: no room for a second copy of the cache: ${host.home}( is on |: )`),
    );
    expect(swap?.detail).toMatch(/nothing was changed$/);
    expect((await memcachedStats(port))?.pid).toBe(pidBefore);
  });

  it("after an upgrade, facts reports the clients' hit ratio, memplay's own reads left out", async () => {
    await resetHost(lab, 1);
    await generateItems(direct(), { seed: 35, count: 5_000, totalBytes: 4 * 1024 * 1024 });
    const playbook = await writeFleetPlaybook(lab, { hosts: [1], swapMode: 'cold' });
    const run = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    // memplay's verify sample and performance gate read thousands of keys; clients read none since.
    const facts = await runMemplay(['facts', playbook, '--output', 'json']);
    const row = facts.events.find((e) => (e as { host?: string }).host === 'host1') as unknown as {
      memcached: { get_hits: number; hit_ratio: number | null; hit_ratio_since: number | null };
    };
    expect(row.memcached.get_hits).toBeGreaterThan(1000);
    expect(row.memcached.hit_ratio_since).not.toBeNull();
    expect(row.memcached.hit_ratio).toBeNull();
  });
});
