import { describe, expect, it } from 'vitest';
import {
  exceedsMaxFail,
  forEachLimited,
  rollingBatches,
  splitIntoBatches,
} from '../../src/engine/batches.js';

describe('splitIntoBatches', () => {
  const hosts = ['a', 'b', 'c', 'd', 'e'];
  it('serial 1 makes one batch per host, in playbook order', () => {
    expect(splitIntoBatches(hosts, { kind: 'count', count: 1 })).toEqual([['a'], ['b'], ['c'], ['d'], ['e']]);
  });
  it('serial 2 leaves the remainder in a last, smaller batch', () => {
    expect(splitIntoBatches(hosts, { kind: 'count', count: 2 })).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
  });
  it('a percentage rounds up and is at least one host', () => {
    expect(splitIntoBatches(hosts, { kind: 'percent', percent: 25 })).toEqual([
      ['a', 'b'],
      ['c', 'd'],
      ['e'],
    ]);
    expect(splitIntoBatches(hosts, { kind: 'percent', percent: 1 })).toHaveLength(5);
    expect(splitIntoBatches(hosts, { kind: 'percent', percent: 100 })).toEqual([hosts]);
  });
});

describe('exceedsMaxFail', () => {
  it('max_fail_percentage 0 aborts on the first failure', () => {
    expect(exceedsMaxFail(0, 3, 0)).toBe(false);
    expect(exceedsMaxFail(1, 3, 0)).toBe(true);
  });
  it('the threshold itself is tolerated, as in Ansible', () => {
    expect(exceedsMaxFail(1, 4, 25)).toBe(false);
    expect(exceedsMaxFail(2, 4, 25)).toBe(true);
  });
});

describe('forEachLimited', () => {
  it('never has more than the limit in flight and finishes every item', async () => {
    let inFlight = 0;
    let peak = 0;
    const done: number[] = [];
    await forEachLimited([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 5 + (n % 3)));
      inFlight--;
      done.push(n);
    });
    expect(peak).toBe(3);
    expect(done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});

describe('rollingBatches', () => {
  const hosts = ['a', 'b', 'c', 'd', 'e'];
  const done = new Set(['b', 'd']);
  it('hosts already on their target go first, together; the rest keep serial 1', () => {
    expect(rollingBatches(hosts, { kind: 'count', count: 1 }, (h) => done.has(h))).toEqual([
      ['b', 'd'],
      ['a'],
      ['c'],
      ['e'],
    ]);
  });
  it('a percentage is of the whole selection, not of the hosts left to change', () => {
    expect(rollingBatches(hosts, { kind: 'percent', percent: 40 }, (h) => done.has(h))).toEqual([
      ['b', 'd'],
      ['a', 'c'],
      ['e'],
    ]);
  });
  it('with nothing on target yet the batches are exactly splitIntoBatches', () => {
    expect(rollingBatches(hosts, { kind: 'count', count: 2 }, () => false)).toEqual(
      splitIntoBatches(hosts, { kind: 'count', count: 2 }),
    );
  });
});
