import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheBytes, handoverRoomProblem } from '../../src/facts/handover-room.js';
import { parseReadsNote, readsNoteFrom } from '../../src/facts/own-reads.js';
import { servingStatsFrom } from '../../src/facts/serving-stats.js';
import { type FenceRecord, readFenceRecord, writeFenceRecord } from '../../src/memcached/old-side-fence.js';
import { lateBuckets, SizeHistogram, sizeBucket } from '../../src/memcached/restore-order.js';
import { formatHostPlans } from '../../src/report/plan-view.js';
import { swapGuarantee } from '../../src/tasks/guarantee.js';
import { toleratedDifferences } from '../../src/tasks/sample-check.js';
import { head, resolveText } from '../support/playbook-helpers.js';

// The pure pieces of carrying a cache under traffic: the handover's room check
// and memory file, the restore's order, the fence's record, the tolerance of a
// proof that clients may have changed, and what --check promises per path.

describe('restore order', () => {
  it('puts sizes that need less than half a slab page last, and only those', () => {
    const histogram = new SizeHistogram();
    for (let i = 0; i < 5000; i++) histogram.add(10, 300); // ~1.8 MB in one size range: restored first
    histogram.add(10, 200_000); // a single large item: its range holds ~200 kB, restored last
    const late = lateBuckets(JSON.parse(JSON.stringify(histogram)));
    expect(late.has(sizeBucket(10, 200_000))).toBe(true);
    expect(late.has(sizeBucket(10, 300))).toBe(false);
    expect(late.size).toBe(1);
  });

  it('a backup written before the histogram existed restores in file order', () => {
    expect(lateBuckets(undefined).size).toBe(0);
    expect(lateBuckets('nonsense').size).toBe(0);
  });

  it('size ranges step by memcached’s growth factor', () => {
    expect(sizeBucket(10, 100)).toBe(sizeBucket(10, 101));
    expect(sizeBucket(10, 100)).toBeLessThan(sizeBucket(10, 200));
  });
});

describe('handover room', () => {
  const room = (free: number, mem: number | null, type = 'tmpfs') => ({
    memAvailableBytes: mem,
    folderFreeBytes: free,
    folderType: type,
    existingFileBytes: 0,
  });
  const mib = 1024 * 1024;

  it('needs a tmpfs with room for -m and memory for a second copy', () => {
    expect(cacheBytes('1024')).toBe(1024 * mib);
    expect(cacheBytes(undefined)).toBe(64 * mib);
    expect(handoverRoomProblem(room(2048 * mib, 4096 * mib), '/dev/shm/m.mem', 1024 * mib)).toBeUndefined();
    expect(handoverRoomProblem(room(512 * mib, 4096 * mib), '/dev/shm/m.mem', 1024 * mib)).toBe(
      '/dev/shm has 512.0 MiB free, the new instance’s memory file needs 1.0 GiB (-m)'.replace('’', "'"),
    );
    expect(handoverRoomProblem(room(4096 * mib, 1000 * mib), '/dev/shm/m.mem', 1024 * mib)).toMatch(
      /^the host has 1000.0 MiB of memory available, a second copy of the cache needs 1.0 GiB/,
    );
    expect(handoverRoomProblem(room(4096 * mib, 4096 * mib, 'ext2/ext3'), '/var/m.mem', 64 * mib)).toMatch(
      /^\/var is on ext2\/ext3, not tmpfs/,
    );
    expect(handoverRoomProblem({ ...room(0, null), folderFreeBytes: null }, '/nowhere/m.mem', 64 * mib)).toBe(
      'the folder of /nowhere/m.mem does not exist',
    );
  });

  it('swap.mode: handover gives a host without -e the memory file it will run on, {port} filled in', () => {
    const playbook = resolveText(
      `${head}swap:\n  mode: handover\ndefaults:\n  memcached: { args: ["-m", "256"] }\nhosts:\n  a: { address: x, memcached: { port: 11311 } }\n  b: { address: y, memcached: { args: ["-m", "256", "-e", "/dev/shm/b.mem"] } }\n`,
    );
    expect(playbook.swap).toEqual({ mode: 'handover', memoryFile: '/dev/shm/memcached-{port}.mem' });
    expect(playbook.hosts[0]?.memcached.args).toEqual(['-m', '256', '-e', '/dev/shm/memcached-11311.mem']);
    expect(playbook.hosts[1]?.memcached.args).toEqual(['-m', '256', '-e', '/dev/shm/b.mem']);
    const cold = resolveText(`${head}hosts:\n  a: { address: x }\n`);
    expect(cold.hosts[0]?.memcached.args).toEqual([]);
  });
});

describe('the fence record beside a backup', () => {
  it('round-trips, and a missing or foreign file reads as no fence', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memplay-fence-'));
    try {
      const backup = join(dir, 'x.mpbak');
      expect(await readFenceRecord(backup)).toBeNull();
      const record: FenceRecord = { state: 'complete', excluded: ['AAAAAAAAAAAAAAAAAAAA'], unknown: 2 };
      await writeFenceRecord(backup, record);
      expect(await readFenceRecord(backup)).toEqual(record);
      await writeFenceRecord(backup, { state: 'weird' } as unknown as FenceRecord);
      expect(await readFenceRecord(backup)).toBeNull();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('differences a proof tolerates while clients write', () => {
  it('grows with the share of the cache clients changed, never beyond the changes', () => {
    expect(toleratedDifferences(1000, 0, 100_000)).toBe(0);
    // 400 changes over 100,000 items: ~4 of 1,000 sampled keys; tolerated 3× + 3.
    expect(toleratedDifferences(1000, 400, 100_000)).toBe(15);
    expect(toleratedDifferences(1000, 5, 100_000)).toBe(4);
    expect(toleratedDifferences(1000, 2, 100_000)).toBe(2);
    // A cache that came back empty misses every sampled item: far beyond any tolerance.
    expect(toleratedDifferences(1000, 400, 100_000)).toBeLessThan(1000);
  });
});

describe('--check names each host’s guarantee', () => {
  it('under its plan, for the path it would take', () => {
    const lines = formatHostPlans(
      ['h1', 'h2'],
      new Map([['h1', [{ kind: 'stop' as const, text: 'stop 1.6.18' }]]]),
      {
        hosts: 2,
        changing: ['h1'],
        unchanged: ['h2'],
        failed: [],
        failures: [],
        unreachable: [],
        compile: [],
        ship: [],
        backup_hosts: 0,
        backup_items: 0,
        backup_bytes: 0,
        batches: [],
        max_out_of_service: 0,
        pause_between_batches: 0,
        confirm_between_batches: false,
        max_failed_hosts: null,
      },
      new Map([['h1', swapGuarantee('handover')]]),
    );
    expect(lines).toEqual([
      'PLAN',
      'h1',
      '  - stop 1.6.18',
      `  guarantee: ${swapGuarantee('handover')}`,
      'h2',
      '  nothing to change',
    ]);
    expect(swapGuarantee('cold')).toMatch(/possibly_stale/);
    expect(swapGuarantee('warm')).toMatch(/^exact/);
  });
});

describe("facts' hit ratio leaves memplay's own reads out", () => {
  const stats = (hits: number, misses: number, time = 2000, uptime = 1000) =>
    new Map([
      ['get_hits', String(hits)],
      ['get_misses', String(misses)],
      ['time', String(time)],
      ['uptime', String(uptime)],
    ]);

  it('counts from the note memplay left for this instance, and ignores one for another or a forged one', () => {
    const note = readsNoteFrom(stats(9000, 1000, 1500, 500));
    expect(note).toEqual({ started: 1000, getHits: 9000, getMisses: 1000, at: 1500 });
    // Clients since: 90 hits, 10 misses.
    const after = servingStatsFrom(stats(9090, 1010), note);
    expect(after.hitRatio).toBeCloseTo(0.9);
    expect(after.hitRatioSince).toBe(1500);
    // A restarted instance (another start time): since its own start.
    const restarted = servingStatsFrom(stats(30, 10, 2000, 10), note);
    expect(restarted.hitRatio).toBeCloseTo(0.75);
    expect(restarted.hitRatioSince).toBeNull();
    expect(parseReadsNote('{"started":1,"getHits":-5,"getMisses":0,"at":1}')).toBeNull();
    expect(parseReadsNote('not json')).toBeNull();
    expect(parseReadsNote(JSON.stringify(note))).toEqual(note);
  });
});
