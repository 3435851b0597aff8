import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RunEvent } from '../../src/report/events.js';
import {
  ensureBuild,
  type Lab,
  memcachedVersion,
  memoryFileArgs,
  memoryFilePath,
  removeMemoryFile,
  resetHost,
  startWithArgs,
  writeFleetPlaybook,
} from '../lab/index.js';
import { compareDigests, digestItems, generateItems, loopbackConnection } from '../lab/items/generator.js';
import { recapOf, runMemplay, spawnMemplay, taskEvents } from './memplay-cli.js';

// swap.mode on a host whose memcached runs on a memory file (-e): the warm
// path, its proof, and every way it falls back to the cold path from the backup.

const lab = inject('lab') as Lab;
const host = lab.hosts[0]!;
const port = host.memcachedPort;
const direct = () => loopbackConnection(port);
const itemCount = 5_000;
// On a memory file memcached's `stats time` runs up to ~2 s behind the wall
// clock (measured: 1.6.38 with -e after a clean start), and a warm restart
// rebases its clock in whole seconds (measured: expiries 3 s early under load),
// so expiries read through two such instances are compared within 5 s, as the
// warm proof does (src/tasks/warm-proof.ts). Values and flags are exact.
const ttlToleranceSeconds = 5;

async function seed(seedValue: number) {
  await generateItems(direct(), { seed: seedValue, count: itemCount, totalBytes: 8 * 1024 * 1024 });
  return digestItems(direct());
}

function swapEvent(events: RunEvent[]) {
  return events.find(
    (e): e is Extract<RunEvent, { event: 'task' }> => e.event === 'task' && e.task === 'swap',
  );
}

describe('warm swap on a memory file', () => {
  beforeAll(async () => {
    await Promise.all(['1.6.38', '1.6.45'].map((version) => ensureBuild(host, version)));
  });
  afterAll(async () => {
    await removeMemoryFile(host);
    await resetHost(lab, 1);
  });

  it('1.6.18 → 1.6.38: --check says warm and why; apply resumes every adversarial item exactly, restore replays nothing, the proof and out-of-service time are reported', async () => {
    await removeMemoryFile(host);
    await startWithArgs(host, '1.6.18', memoryFileArgs(host));
    const original = await seed(21);
    const playbook = await writeFleetPlaybook(lab, { hosts: [1], memcachedArgs: memoryFileArgs(host) });

    const check = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const planned = swapEvent(check.events);
    expect(planned?.swap_mode).toBe('warm');
    expect(planned?.detail).toMatch(
      /^warm restart: SIGUSR1 1\.6\.18 \(pid \d+\), repoint current 1\.6\.18 → 1\.6\.38, start 1\.6\.38 on \/dev\/shm\/\S+, prove it against the backup \(memory file \S+, memory settings unchanged\)/,
    );
    expect(taskEvents(check).find((t) => t.task === 'restore')?.detail).toMatch(/^warm restart planned/);

    const applied = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const swap = swapEvent(applied.events);
    expect(swap?.swap_mode, swap?.detail).toBe('warm');
    expect(swap?.detail).toMatch(
      /^1\.6\.18 → 1\.6\.38 warm: 5,000 items ≥ 5,000 live in the backup, \d+ sampled items match/,
    );
    expect(swap?.out_of_service_ms).toBeGreaterThan(0);
    const restore = taskEvents(applied).find((t) => t.task === 'restore');
    expect(restore?.status).toBe('ok');
    expect(restore?.detail).toMatch(/^warm: 5,000 items resumed, proven by 5,000 items ≥ 5,000 live/);
    expect(recapOf(applied).host1).toMatchObject({ failed: 0, swap_mode: 'warm' });
    expect(await memcachedVersion(port)).toBe('1.6.38');
    expect(compareDigests(original, await digestItems(direct()), ttlToleranceSeconds)).toEqual([]);
  });

  it('1.6.38 → 1.6.45 with verify.full: every item compared by the proof and exact afterwards', async () => {
    await removeMemoryFile(host);
    await startWithArgs(host, '1.6.38', memoryFileArgs(host));
    const original = await seed(22);
    const playbook = await writeFleetPlaybook(lab, {
      hosts: [1],
      version: '1.6.45',
      memcachedArgs: memoryFileArgs(host),
      verifyFull: true,
    });
    const applied = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const swap = swapEvent(applied.events);
    expect(swap?.swap_mode, swap?.detail).toBe('warm');
    expect(swap?.detail).toContain('every item (5,000) matches');
    expect(await memcachedVersion(port)).toBe('1.6.45');
    expect(compareDigests(original, await digestItems(direct()), ttlToleranceSeconds)).toEqual([]);
  });

  it('auto with a different -m: --check and apply take the cold path and say why; every item is restored', async () => {
    await removeMemoryFile(host);
    await startWithArgs(host, '1.6.18', memoryFileArgs(host, 64));
    const original = await seed(23);
    // The memory limit grows on purpose: verify's settings gate must be told it is wanted.
    const playbook = await writeFleetPlaybook(lab, {
      hosts: [1],
      memcachedArgs: memoryFileArgs(host, 96),
      verify: { accept_settings: ['maxbytes'] },
    });

    const check = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(swapEvent(check.events)?.swap_mode).toBe('cold');
    expect(swapEvent(check.events)?.detail).toMatch(/\(cold: memory settings differ: -m 64 → 96\)$/);

    const applied = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    expect(swapEvent(applied.events)?.swap_mode).toBe('cold');
    const restore = taskEvents(applied).find((t) => t.task === 'restore');
    expect(restore?.detail).toMatch(/^restored 5,000 items/);
    expect(restore?.out_of_service_ms).toBeGreaterThanOrEqual(
      swapEvent(applied.events)?.out_of_service_ms ?? 0,
    );
    expect(compareDigests(original, await digestItems(direct()), ttlToleranceSeconds)).toEqual([]);
  });

  it('swap.mode: warm with a different -m: memcached comes back empty without a word, the proof catches it, and the backup is restored in full', async () => {
    await removeMemoryFile(host);
    await startWithArgs(host, '1.6.18', memoryFileArgs(host, 64));
    const original = await seed(24);
    const playbook = await writeFleetPlaybook(lab, {
      hosts: [1],
      memcachedArgs: memoryFileArgs(host, 96),
      swapMode: 'warm',
      verify: { accept_settings: ['maxbytes'] },
    });
    const check = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(swapEvent(check.events)?.swap_mode).toBe('warm');
    expect(swapEvent(check.events)?.detail).toContain('memory settings differ (-m 64 → 96)');

    const applied = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const swap = swapEvent(applied.events);
    expect(swap?.swap_mode).toBe('cold');
    expect(swap?.swap_reason).toBe(
      'warm restart fell back: the resumed cache came back with 0 items, the backup holds 5,000 live ones',
    );
    expect(taskEvents(applied).find((t) => t.task === 'restore')?.detail).toMatch(/^restored 5,000 items/);
    expect(recapOf(applied).host1).toMatchObject({ failed: 0, swap_mode: 'cold' });
    expect(compareDigests(original, await digestItems(direct()), ttlToleranceSeconds)).toEqual([]);
  });

  it('memplay killed between the SIGUSR1 and the new start: the re-run resumes the .meta, proves it against the backup it left, and finishes the host with its data', async () => {
    await removeMemoryFile(host);
    await startWithArgs(host, '1.6.18', memoryFileArgs(host));
    const original = await seed(25);
    const playbook = await writeFleetPlaybook(lab, { hosts: [1], memcachedArgs: memoryFileArgs(host) });

    // -v: progress events come only with it.
    const live = spawnMemplay(['apply', playbook, '-v'], (event, { child }) => {
      if (event.event === 'progress' && event.message === 'point current → 1.6.38') child.kill('SIGKILL');
    });
    await live.exited;
    expect(live.events.some((e) => e.event === 'recap')).toBe(false);
    expect(await memcachedVersion(port)).toBeNull();
    expect(existsSync(`${memoryFilePath(host)}.meta`)).toBe(true);

    const rerun = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(rerun.code, rerun.stdout + rerun.stderr).toBe(0);
    expect(taskEvents(rerun).find((t) => t.task === 'backup')?.detail).toMatch(/^reuse .+\.mpbak/);
    const swap = swapEvent(rerun.events);
    expect(swap?.swap_mode, swap?.detail).toBe('warm');
    expect(swap?.swap_reason).toMatch(/\.meta left by a stopped instance is waiting$/);
    expect(taskEvents(rerun).find((t) => t.task === 'restore')?.detail).toMatch(/^warm: 5,000 items resumed/);
    expect(compareDigests(original, await digestItems(direct()), ttlToleranceSeconds)).toEqual([]);

    // The backup counts as carried over: a third run replays nothing.
    const third = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(third.code).toBe(0);
    expect(taskEvents(third).find((t) => t.task === 'restore')?.detail).toBe(
      'no backup taken in this run: nothing to restore',
    );
  });
});
