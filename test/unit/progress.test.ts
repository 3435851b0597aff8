import { describe, expect, it } from 'vitest';
import { progressEvent, throttledProgress } from '../../src/engine/progress-throttle.js';
import type { RunEvent } from '../../src/report/events.js';
import { chooseLayout, FleetView } from '../../src/report/fleet-view.js';
import {
  describeProgress,
  EtaEstimator,
  type ProgressEvent,
  progressLine,
} from '../../src/report/progress.js';

describe('progress formatting', () => {
  it('describes a backup as the issue asks: items of total, bytes of total', () => {
    expect(
      describeProgress({
        phase: 'full pass',
        items: 41_200,
        items_total: 100_000,
        bytes: 48 * 1024 * 1024,
        bytes_total: 119 * 1024 * 1024,
      }),
    ).toBe('full pass · 41,200/100,000 items · 48.0/119.0 MiB');
    expect(describeProgress({ phase: 'make', items: 12, items_total: 63, unit: 'files' })).toBe(
      'make · 12/63 files',
    );
    expect(describeProgress({ phase: 'stop the running instance' })).toBe('stop the running instance');
  });

  it('the engine event carries the counts as JSON fields and the same words as message', () => {
    const event = progressEvent('host1', 'backup', 'full pass', {
      items: 10,
      itemsTotal: 40,
      bytes: 2048,
      bytesTotal: 8192,
    });
    expect(event).toEqual({
      event: 'progress',
      host: 'host1',
      task: 'backup',
      message: 'full pass · 10/40 items · 2.0/8.0 KiB',
      phase: 'full pass',
      items: 10,
      items_total: 40,
      bytes: 2048,
      bytes_total: 8192,
    });
    expect(Object.keys(progressEvent('host1', 'swap', 'stop'))).toEqual([
      'event',
      'host',
      'task',
      'message',
      'phase',
    ]);
  });
});

describe('ETA estimate', () => {
  const at = (items: number, phase = 'full pass'): ProgressEvent =>
    progressEvent('host1', 'backup', phase, { items, itemsTotal: 10_000 });

  it('extrapolates the rate seen since the phase began, and only after a second of it', () => {
    let now = 0;
    const eta = new EtaEstimator(() => now);
    expect(eta.estimate(at(0))).toBeUndefined();
    now = 500;
    expect(eta.estimate(at(4_000))).toBeUndefined();
    now = 2_000;
    // 2,000 items in 2 s: 8,000 left take 8 s.
    expect(eta.estimate(at(2_000))).toBe(8_000);
    expect(progressLine(at(2_000), 8_000)).toBe('full pass · 2,000/10,000 items · ETA 8 s');
  });

  it('starts over with a new phase, and has nothing to say when done or uncounted', () => {
    let now = 0;
    const eta = new EtaEstimator(() => now);
    eta.estimate(at(0));
    now = 5_000;
    expect(eta.estimate(at(0, 'restore'))).toBeUndefined();
    now = 6_000;
    expect(eta.estimate(at(1_000, 'restore'))).toBe(9_000);
    now = 7_000;
    expect(eta.estimate(at(10_000, 'restore'))).toBeUndefined();
    expect(eta.estimate(progressEvent('host1', 'backup', 'verify the backup file'))).toBeUndefined();
  });

  it('uses bytes when only they have a total (an upload)', () => {
    let now = 0;
    const eta = new EtaEstimator(() => now);
    const upload = (bytes: number) => progressEvent('h', 'build', 'upload', { bytes, bytesTotal: 1000 });
    eta.estimate(upload(0));
    now = 1_000;
    expect(eta.estimate(upload(250))).toBe(3_000);
  });
});

describe('progress throttle', () => {
  it('sends a new phase at once, holds back ticks within the interval, and the last count always arrives', async () => {
    const sent: RunEvent[] = [];
    let now = 0;
    const progress = throttledProgress(
      (e) => sent.push(e),
      'host1',
      'backup',
      250,
      () => now,
    );
    progress.report('full pass', { items: 0, itemsTotal: 3000 });
    now = 10;
    progress.report('full pass', { items: 1000, itemsTotal: 3000 });
    now = 20;
    progress.report('full pass', { items: 2000, itemsTotal: 3000 });
    expect(sent.map((e) => (e as ProgressEvent).items)).toEqual([0]);
    now = 30;
    progress.report('full pass', { items: 3000, itemsTotal: 3000 });
    progress.flush();
    expect(sent.map((e) => (e as ProgressEvent).items)).toEqual([0, 3000]);
    progress.report('delta pass');
    expect(sent.map((e) => (e as ProgressEvent).phase)).toEqual(['full pass', 'full pass', 'delta pass']);
  });

  it('a phase that ends with a held-back count sends it before the next phase, so its last count arrives', () => {
    const sent: RunEvent[] = [];
    let now = 0;
    const progress = throttledProgress(
      (e) => sent.push(e),
      'host1',
      'restore',
      250,
      () => now,
    );
    progress.report('restore', { items: 1000, itemsTotal: 3000 });
    now = 10;
    progress.report('restore', { items: 3000, itemsTotal: 3000 });
    progress.report('undo restored copies');
    expect(sent.map((e) => [(e as ProgressEvent).phase, (e as ProgressEvent).items])).toEqual([
      ['restore', 1000],
      ['restore', 3000],
      ['undo restored copies', undefined],
    ]);
  });

  it('a held-back count goes out by itself when the interval is up', async () => {
    const sent: RunEvent[] = [];
    const progress = throttledProgress((e) => sent.push(e), 'host1', 'restore', 20);
    progress.report('restore', { items: 1 });
    progress.report('restore', { items: 2 });
    expect(sent).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(sent.map((e) => (e as ProgressEvent).items)).toEqual([1, 2]);
  });
});

describe('compact fleet view', () => {
  it('nested while host × task lines fit the terminal, a line per host after that, one line when even that does not fit', () => {
    expect(chooseLayout(3, 6, 40)).toBe('nested');
    expect(chooseLayout(3, 6, 20)).toBe('per-host');
    expect(chooseLayout(9, 6, 200)).toBe('per-host');
    expect(chooseLayout(50, 6, 40)).toBe('aggregate');
    expect(chooseLayout(37, 6, 40)).toBe('per-host');
    expect(chooseLayout(38, 6, 40)).toBe('aggregate');
  });

  it('one line per host says its task and progress, then how it ended; the summary counts the fleet', () => {
    const view = new FleetView(['host1', 'host2', 'host3'], 2, false, () => 0);
    expect(view.summary()).toBe('3 hosts: 0 done, 3 waiting');
    expect(view.anyFailed()).toBe(false);
    view.handle({ event: 'task-start', host: 'host1', task: 'backup' });
    view.handle(progressEvent('host1', 'backup', 'full pass', { items: 1_000, itemsTotal: 5_000 }));
    expect(view.hostLine('host1')).toBe('host1 backup · full pass · 1,000/5,000 items');
    view.handle({ event: 'task-start', host: 'host2', task: 'backup' });
    const result = (host: string, task: 'backup' | 'restore', status: 'changed' | 'failed' | 'ok') =>
      view.handle({ event: 'task', host, task, status, detail: 'x', check: false, duration_ms: 1 });
    result('host1', 'backup', 'changed');
    result('host1', 'restore', 'ok');
    result('host2', 'backup', 'failed');
    view.handle({ event: 'unreachable', host: 'host3', reason: 'connect', detail: 'connection refused' });
    expect(view.hostLine('host1')).toBe('host1 done: 1 changed, 1 ok or skipped');
    expect(view.hostLine('host2')).toBe('host2 backup failed: x');
    expect(view.hostLine('host3')).toBe('host3 UNREACHABLE: connection refused');
    expect([view.finished('host1'), view.failed('host1'), view.failed('host2')]).toEqual([true, false, true]);
    expect(view.summary()).toBe('3 hosts: 1 done, 1 failed, 1 unreachable');
    expect(view.anyFailed()).toBe(true);
  });
});
