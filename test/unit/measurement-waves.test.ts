import { describe, expect, it } from 'vitest';
import { MeasurementWaves, type WaveClock } from '../../src/tasks/gates/measurement-waves.js';

// When the performance gate's loads run: the hosts of one batch together, one wave
// at a time, a batch of one alone and at once. A hand-driven clock and loads that
// end when the test says, so what overlaps is what the scheduler decided.

class ManualClock implements WaveClock {
  private timers = new Map<number, () => void>();
  private next = 0;
  setTimeout(run: () => void, _ms: number): unknown {
    const id = this.next++;
    this.timers.set(id, run);
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  get pending(): number {
    return this.timers.size;
  }
  fire(): void {
    const due = [...this.timers.values()];
    this.timers.clear();
    for (const run of due) run();
  }
}

/** A load that records when it started and ends when `finish` is called. */
function load(name: string, started: string[]) {
  let finish!: () => void;
  const done = new Promise<string>((resolve) => {
    finish = () => resolve(name);
  });
  return {
    work: () => {
      started.push(name);
      return done;
    },
    finish: () => finish(),
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('measurement waves', () => {
  it('a batch of one is measured alone and at once, no gathering wait', async () => {
    const clock = new ManualClock();
    const waves = new MeasurementWaves(500, clock);
    const started: string[] = [];
    const a = load('a', started);
    const measured = waves.join(1, a.work);
    await settle();
    expect(started).toEqual(['a']);
    expect(clock.pending).toBe(0);
    a.finish();
    expect(await measured).toEqual({ result: 'a', waveSize: 1 });
  });

  it('the hosts of a batch start together once all have joined, and each learns the wave size', async () => {
    const clock = new ManualClock();
    const waves = new MeasurementWaves(500, clock);
    const started: string[] = [];
    const loads = ['a', 'b', 'c'].map((name) => load(name, started));
    const first = waves.join(3, loads[0]!.work);
    const second = waves.join(3, loads[1]!.work);
    await settle();
    expect(started).toEqual([]);
    const third = waves.join(3, loads[2]!.work);
    await settle();
    expect(started).toEqual(['a', 'b', 'c']);
    for (const l of loads) l.finish();
    expect((await Promise.all([first, second, third])).map((r) => r.waveSize)).toEqual([3, 3, 3]);
  });

  it('a batch whose other hosts do not arrive starts after the gathering wait with those that did', async () => {
    const clock = new ManualClock();
    const waves = new MeasurementWaves(500, clock);
    const started: string[] = [];
    const a = load('a', started);
    const b = load('b', started);
    const measuredA = waves.join(5, a.work);
    const measuredB = waves.join(5, b.work);
    await settle();
    expect(started).toEqual([]);
    clock.fire();
    await settle();
    expect(started).toEqual(['a', 'b']);
    a.finish();
    b.finish();
    expect((await measuredA).waveSize).toBe(2);
    expect((await measuredB).waveSize).toBe(2);
  });

  it('one wave at a time: a load asked for while a wave runs waits for it, then runs with the others who waited', async () => {
    const clock = new ManualClock();
    const waves = new MeasurementWaves(500, clock);
    const started: string[] = [];
    const a = load('a', started);
    const b = load('b', started);
    const c = load('c', started);
    const measuredA = waves.join(2, a.work);
    clock.fire();
    await settle();
    expect(started).toEqual(['a']);
    const measuredB = waves.join(2, b.work);
    const measuredC = waves.join(2, c.work);
    await settle();
    // Both joined while a's wave ran: neither starts beside it.
    expect(started).toEqual(['a']);
    a.finish();
    await measuredA;
    await settle();
    expect(started).toEqual(['a', 'b', 'c']);
    b.finish();
    c.finish();
    expect((await measuredA).waveSize).toBe(1);
    expect((await measuredB).waveSize).toBe(2);
    expect((await measuredC).waveSize).toBe(2);
  });

  it('a failed load fails only its own measurement, and the next wave still runs', async () => {
    const clock = new ManualClock();
    const waves = new MeasurementWaves(500, clock);
    const broken = waves.join(2, async () => {
      throw new Error('stream closed');
    });
    const fine = waves.join(2, async () => 'ok');
    await expect(broken).rejects.toThrow('stream closed');
    expect(await fine).toEqual({ result: 'ok', waveSize: 2 });
    const later = waves.join(1, async () => 'later');
    expect(await later).toEqual({ result: 'later', waveSize: 1 });
  });
});
