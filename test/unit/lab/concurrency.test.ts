import { describe, expect, it } from 'vitest';
import { forEachLimited } from '../../lab/concurrency.js';

// The lab sets up a 500-host fleet in waves: never more than the limit at once,
// every host done, and a failing host neither stops the others nor goes unnoticed.

function deferredWork() {
  let running = 0;
  let peak = 0;
  const done: number[] = [];
  const work = async (item: number) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((resolve) => setTimeout(resolve, item % 3));
    running--;
    done.push(item);
  };
  return { work, done, peak: () => peak };
}

describe('forEachLimited', () => {
  it('runs every item, never more than the limit at once', async () => {
    const items = Array.from({ length: 100 }, (_, i) => i);
    const probe = deferredWork();
    await forEachLimited(items, 7, probe.work);
    expect(probe.peak()).toBe(7);
    expect([...probe.done].sort((a, b) => a - b)).toEqual(items);
  });

  it('runs all of a list shorter than the limit at once, as the 3-host lab did', async () => {
    const probe = deferredWork();
    await forEachLimited([1, 2, 3], 32, probe.work);
    expect(probe.peak()).toBe(3);
    expect(probe.done).toHaveLength(3);
  });

  it('finishes the other items when one fails, then rejects with that failure', async () => {
    const done: number[] = [];
    const result = forEachLimited([1, 2, 3, 4, 5], 2, async (item) => {
      if (item === 2) throw new Error('host2: sshd did not start');
      done.push(item);
    });
    await expect(result).rejects.toThrow('host2: sshd did not start');
    expect(done).toEqual([1, 3, 4, 5]);
  });
});
