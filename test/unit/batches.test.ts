import { describe, expect, it } from 'vitest';
import {
  exceedsFailureBudget,
  exceedsMaxFail,
  failureBudget,
  forEachLimited,
  rollingBatches,
  splitIntoBatches,
} from '../../src/engine/batches.js';
import type { HostCount } from '../../src/playbook/types.js';

const count = (n: number): HostCount => ({ kind: 'count', count: n });
const percent = (n: number): HostCount => ({ kind: 'percent', percent: n });
const hostNames = (n: number) => Array.from({ length: n }, (_, i) => `h${i + 1}`);
const sizes = (batches: readonly unknown[][]) => batches.map((batch) => batch.length);

describe('splitIntoBatches', () => {
  const hosts = ['a', 'b', 'c', 'd', 'e'];
  it('serial 1 makes one batch per host, in playbook order', () => {
    expect(splitIntoBatches(hosts, [{ kind: 'count', count: 1 }])).toEqual([
      ['a'],
      ['b'],
      ['c'],
      ['d'],
      ['e'],
    ]);
  });
  it('serial 2 leaves the remainder in a last, smaller batch', () => {
    expect(splitIntoBatches(hosts, [{ kind: 'count', count: 2 }])).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
  });
  it('a percentage rounds up and is at least one host', () => {
    expect(splitIntoBatches(hosts, [{ kind: 'percent', percent: 25 }])).toEqual([
      ['a', 'b'],
      ['c', 'd'],
      ['e'],
    ]);
    expect(splitIntoBatches(hosts, [{ kind: 'percent', percent: 1 }])).toHaveLength(5);
    expect(splitIntoBatches(hosts, [{ kind: 'percent', percent: 100 }])).toEqual([hosts]);
  });
});

describe('splitIntoBatches with a list serial', () => {
  it('[1, "100%"]: one canary host, then all the others in one batch', () => {
    expect(splitIntoBatches(['host1', 'host2', 'host3'], [count(1), percent(100)])).toEqual([
      ['host1'],
      ['host2', 'host3'],
    ]);
  });
  it('the last size repeats for the hosts left, as in Ansible', () => {
    expect(sizes(splitIntoBatches(hostNames(10), [count(1), count(3)]))).toEqual([1, 3, 3, 3]);
    expect(sizes(splitIntoBatches(hostNames(8), [count(1), count(2), count(4)]))).toEqual([1, 2, 4, 1]);
  });
  it('each percentage is of the whole selection, rounded up, at least one host', () => {
    // 25% of 10 is 2.5 → 3; 10% of 10 is exactly 1; 1% of 10 is 0.1 → 1.
    expect(sizes(splitIntoBatches(hostNames(10), [count(1), percent(25), percent(100)]))).toEqual([1, 3, 6]);
    expect(sizes(splitIntoBatches(hostNames(10), [percent(10), percent(30)]))).toEqual([1, 3, 3, 3]);
    expect(sizes(splitIntoBatches(hostNames(10), [percent(1)]))).toEqual(Array(10).fill(1));
  });
  it('sizes the list never reaches are not used, and a one-value list is the single value', () => {
    expect(splitIntoBatches(hostNames(2), [count(5), count(1)])).toEqual([hostNames(2)]);
    expect(splitIntoBatches(hostNames(5), [count(2)])).toEqual(
      splitIntoBatches(hostNames(5), [count(2), count(2)]),
    );
  });
  it('no hosts, no batches', () => {
    expect(splitIntoBatches([], [count(1), percent(100)])).toEqual([]);
  });
});

describe('failure budget (strategy.max_failed_hosts)', () => {
  it('a count is the number of failed hosts tolerated in the whole run', () => {
    expect(failureBudget(12, count(2))).toBe(2);
    expect(exceedsFailureBudget(2, 12, count(2))).toBe(false);
    expect(exceedsFailureBudget(3, 12, count(2))).toBe(true);
  });
  it('0 tolerates no failure at all', () => {
    expect(exceedsFailureBudget(0, 3, count(0))).toBe(false);
    expect(exceedsFailureBudget(1, 3, count(0))).toBe(true);
  });
  it('a percentage of the selected hosts rounds down: 10% of 12 hosts tolerates 1, 10% of 9 none', () => {
    expect(failureBudget(12, percent(10))).toBe(1);
    expect(exceedsFailureBudget(1, 12, percent(10))).toBe(false);
    expect(exceedsFailureBudget(2, 12, percent(10))).toBe(true);
    expect(failureBudget(9, percent(10))).toBe(0);
    expect(exceedsFailureBudget(1, 9, percent(10))).toBe(true);
    expect(failureBudget(20, percent(25))).toBe(5);
    expect(failureBudget(3, percent(100))).toBe(3);
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
    expect(rollingBatches(hosts, [{ kind: 'count', count: 1 }], (h) => done.has(h))).toEqual([
      ['b', 'd'],
      ['a'],
      ['c'],
      ['e'],
    ]);
  });
  it('a percentage is of the whole selection, not of the hosts left to change', () => {
    expect(rollingBatches(hosts, [{ kind: 'percent', percent: 40 }], (h) => done.has(h))).toEqual([
      ['b', 'd'],
      ['a', 'c'],
      ['e'],
    ]);
  });
  it('a list serial starts again with its first size after the hosts on target: the canary stays one host', () => {
    expect(rollingBatches(hosts, [count(1), percent(100)], (h) => done.has(h))).toEqual([
      ['b', 'd'],
      ['a'],
      ['c', 'e'],
    ]);
  });
  it('with nothing on target yet the batches are exactly splitIntoBatches', () => {
    expect(rollingBatches(hosts, [{ kind: 'count', count: 2 }], () => false)).toEqual(
      splitIntoBatches(hosts, [{ kind: 'count', count: 2 }]),
    );
  });
});
