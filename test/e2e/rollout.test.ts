import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parseDocument } from 'yaml';
import type { RunEvent } from '../../src/report/events.js';
import {
  ensureBuild,
  type FleetOverrides,
  type Lab,
  memcachedStats,
  memcachedVersion,
  resetLab,
  snapshotHost,
  writeFleetPlaybook,
} from '../lab/index.js';
import { generateItems, loopbackConnection } from '../lab/items/generator.js';
import { recapOf, runMemplay, spawnMemplay, taskEvents } from './memplay-cli.js';

// strategy's rollout control on the 3-host lab: a list serial (a canary batch first),
// the pause and the question between batches, and the run's failure budget.

const lab = inject('lab') as Lab;
const hostIndexes = [1, 2, 3];
const rollingTasks = ['backup', 'swap', 'restore', 'verify'];

type Event<K extends RunEvent['event']> = Extract<RunEvent, { event: K }>;
const eventsOf = <K extends RunEvent['event']>(events: readonly RunEvent[], kind: K) =>
  events.filter((e): e is Event<K> => e.event === kind);
const rollingBatches = (events: readonly RunEvent[]) =>
  eventsOf(events, 'batch').filter((b) => b.phase === 'rolling');

async function versions(): Promise<(string | null)[]> {
  return Promise.all(lab.hosts.map((host) => memcachedVersion(host.memcachedPort)));
}

async function pids(): Promise<(string | undefined)[]> {
  return Promise.all(lab.hosts.map(async (host) => (await memcachedStats(host.memcachedPort))?.pid));
}

/** Every host back on 1.6.18 with 1.6.38 installed (no compile) and a few items, and no backups. */
async function baseline(): Promise<void> {
  await resetLab(lab, { keepBuilds: ['1.6.38'] });
  await rm(join(lab.dir, 'backups'), { recursive: true, force: true });
  for (const host of lab.hosts) {
    await ensureBuild(host, '1.6.38');
    await generateItems(loopbackConnection(host.memcachedPort), {
      seed: 70 + host.index,
      count: 200,
      totalBytes: 200 * 1024,
    });
  }
}

/** The lab playbook with `overrides`, and a command step that fails on every host before backup. */
async function playbookFailingBeforeBackup(overrides: FleetOverrides): Promise<string> {
  const base = await writeFleetPlaybook(lab, overrides);
  const document = parseDocument(await readFile(base, 'utf8'));
  document.set('tasks', [
    'version_check',
    'build',
    { command: 'refuse', argv: ['/bin/false'] },
    ...rollingTasks,
  ]);
  const path = base.replace(/\.yml$/, '-refuse.yml');
  await writeFile(path, document.toString());
  return path;
}

describe('rollout control on the lab', () => {
  beforeAll(baseline);

  it('confirm_between_batches off a terminal without --yes: refused with exit 5, every host byte-for-byte as it was', async () => {
    const playbook = await writeFleetPlaybook(lab, { serial: [1, '100%'], confirmBetweenBatches: true });
    const before = await Promise.all(hostIndexes.map((i) => snapshotHost(lab, i)));
    const run = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(5);
    expect(run.stderr).toContain('strategy.confirm_between_batches asks before each batch after the first');
    expect(run.stderr).toContain('add --yes');
    // Nothing ran: with -o json the refusal is the one line, an error event.
    expect(run.events).toEqual([expect.objectContaining({ event: 'error', kind: 'usage', exit_code: 5 })]);
    expect(await Promise.all(hostIndexes.map((i) => snapshotHost(lab, i)))).toEqual(before);
    expect(existsSync(join(lab.dir, 'backups', 'journal.jsonl'))).toBe(false);
  });

  it('max_failed_hosts 1 with serial 1: the first failure is tolerated, the second stops the run before host3', async () => {
    const playbook = await playbookFailingBeforeBackup({ serial: 1, maxFailedHosts: 1 });
    const host3Pid = (await pids())[2];
    const run = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(2);
    expect(rollingBatches(run.events).map((b) => b.hosts)).toEqual([['host1'], ['host2']]);
    expect(eventsOf(run.events, 'aborted').map((a) => a.reason)).toEqual([
      '2 of 3 hosts failed, above max_failed_hosts 1; no further batch starts',
    ]);
    const tasks = taskEvents(run);
    for (const host of ['host1', 'host2']) {
      expect(tasks.find((t) => t.host === host && t.task === 'refuse')?.status).toBe('failed');
    }
    const host3 = tasks.filter((t) => t.host === 'host3' && ['refuse', ...rollingTasks].includes(t.task));
    expect(host3.map((t) => [t.task, t.status, t.detail])).toEqual(
      ['refuse', ...rollingTasks].map((task) => [task, 'skipped', 'not started: max_failed_hosts exceeded']),
    );
    expect(recapOf(run).host3).toMatchObject({ failed: 0, changed: 0 });
    expect(await versions()).toEqual(['1.6.18', '1.6.18', '1.6.18']);
    expect((await pids())[2]).toBe(host3Pid);
  });

  it('serial [1, "100%"] with a pause and --yes: batches host1 | host2, host3, the pause and the answer between them', async () => {
    const playbook = await writeFleetPlaybook(lab, {
      serial: [1, '100%'],
      pauseBetweenBatches: 2,
      confirmBetweenBatches: true,
    });
    const seen: { event: RunEvent; at: number }[] = [];
    // Which hosts' lock files exist when the pause begins (the lock is held over the host's connection).
    let locksAtPause: boolean[] = [];
    const live = spawnMemplay(['apply', playbook, '--yes'], (event) => {
      seen.push({ event, at: Date.now() });
      if (event.event === 'pause') {
        locksAtPause = hostIndexes.map((i) =>
          existsSync(join(lab.hosts[i - 1]?.prefix ?? '', '.memplay', 'lock')),
        );
      }
    });
    expect(await live.exited).toBe(0);
    const events = seen.map((s) => s.event);
    // host1's part in the run is over before the pause: its lock and connection are let go
    // then, not at the run's end; host2 and host3, still to come, keep theirs.
    expect(locksAtPause).toEqual([false, true, true]);

    expect(rollingBatches(events).map(({ batch, batches, hosts }) => ({ batch, batches, hosts }))).toEqual([
      { batch: 1, batches: 2, hosts: ['host1'] },
      { batch: 2, batches: 2, hosts: ['host2', 'host3'] },
    ]);
    const at = (match: (e: RunEvent) => boolean) => seen.findIndex((s) => match(s.event));
    const pause = at((e) => e.event === 'pause');
    const confirm = at((e) => e.event === 'confirm');
    const secondBatch = at((e) => e.event === 'batch' && e.phase === 'rolling' && e.batch === 2);
    const host1Verified = at((e) => e.event === 'task' && e.host === 'host1' && e.task === 'verify');
    expect(seen[pause]?.event).toEqual({
      event: 'pause',
      schema: 1,
      ts: expect.any(String),
      run_id: expect.any(String),
      phase: 'rolling',
      batch: 2,
      batches: 2,
      hosts: ['host2', 'host3'],
      seconds: 2,
    });
    expect(seen[confirm]?.event).toMatchObject({ event: 'confirm', batch: 2, answer: 'yes', assumed: true });
    // host1's batch is over before the pause, and the next batch waits the pause out.
    expect(host1Verified).toBeLessThan(pause);
    expect(pause).toBeLessThan(confirm);
    expect(confirm).toBeLessThan(secondBatch);
    expect((seen[secondBatch]?.at ?? 0) - (seen[pause]?.at ?? 0)).toBeGreaterThanOrEqual(1900);
    // Both hosts of the second batch are taken down together: each starts its swap before either finishes it.
    const swapStarts = ['host2', 'host3'].map((host) =>
      at((e) => e.event === 'task-start' && e.host === host && e.task === 'swap'),
    );
    const firstSwapEnd = at((e) => e.event === 'task' && e.task === 'swap' && e.host !== 'host1');
    for (const start of swapStarts) expect(start).toBeLessThan(firstSwapEnd);

    expect(eventsOf(events, 'recap')[0]?.interrupted).toBe(false);
    expect(await versions()).toEqual(['1.6.38', '1.6.38', '1.6.38']);
  });

  it('Ctrl-C during the pause: the next batch never starts, exit 99, host2 and host3 untouched', async () => {
    await baseline();
    const playbook = await writeFleetPlaybook(lab, { serial: [1, '100%'], pauseBetweenBatches: 120 });
    const before = await pids();
    let pausedAt = 0;
    const live = spawnMemplay(['apply', playbook], (event, { child }) => {
      if (event.event !== 'pause') return;
      pausedAt = Date.now();
      child.kill('SIGINT');
    });
    expect(await live.exited).toBe(99);
    expect(pausedAt).toBeGreaterThan(0);
    // Well before the 120 s pause would have ended.
    expect(Date.now() - pausedAt).toBeLessThan(30_000);
    expect(rollingBatches(live.events).map((b) => b.hosts)).toEqual([['host1']]);
    const skipped = live.events.filter(
      (e): e is Event<'task'> => e.event === 'task' && e.host !== 'host1' && rollingTasks.includes(e.task),
    );
    expect(skipped.map((t) => `${t.host} ${t.task} ${t.status} ${t.detail}`)).toEqual(
      ['host2', 'host3'].flatMap((host) => rollingTasks.map((task) => `${host} ${task} skipped interrupted`)),
    );
    expect(await versions()).toEqual(['1.6.38', '1.6.18', '1.6.18']);
    expect((await pids()).slice(1)).toEqual(before.slice(1));
  });
});
