import { describe, expect, it } from 'vitest';
import { CasIndex, capacityFor, digestIdOf, keyDigest, keyDigestId } from '../../src/memcached/key-index.js';

// CasIndex is a hand-made open-addressing table: checked against a Map doing
// the same operations, across growth and deletions that shift probe runs.

function keyOf(n: number): Buffer {
  return Buffer.from(`key:${n}:${'x'.repeat(n % 7)}`);
}

describe('CasIndex', () => {
  // 0: grows from 1024 slots; 1000 and 25,000: tables of 1334 and 33,334 slots (not powers of two),
  // the second never growing.
  it.each([0, 1_000, 25_000])(
    'agrees with a Map through growth, forgets and re-remembers (sized for %i)',
    (expectedItems) => {
      const index = new CasIndex(expectedItems);
      const model = new Map<string, number>();
      let seed = 7;
      const random = () => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed;
      };
      // Disagreements are collected and compared once: an expect per step made this
      // test take seconds on a busy machine, past the unit tier's default timeout.
      const disagreements: string[] = [];
      for (let step = 0; step < 60_000; step++) {
        const id = keyDigestId(keyOf(random() % 20_000));
        const cas = random();
        const op = random() % 4;
        if (op === 0) {
          if (index.rememberNew(id, cas) === model.has(id)) disagreements.push(`step ${step}: rememberNew`);
          if (!model.has(id)) model.set(id, cas);
        } else if (op === 1) {
          index.remember(id, cas);
          model.set(id, cas);
        } else if (op === 2) {
          index.forget(id);
          model.delete(id);
        } else if (index.has(id) !== model.has(id)) {
          disagreements.push(`step ${step}: has`);
        }
      }
      expect(disagreements).toEqual([]);
      expect(index.size).toBe(model.size);
      const remembered = (n: number) => index.has(keyDigestId(keyOf(n)));
      const expected = (n: number) => model.has(keyDigestId(keyOf(n)));
      const keys = Array.from({ length: 20_000 }, (_, n) => n);
      expect(keys.filter((n) => remembered(n) !== expected(n))).toEqual([]);
      expect(keys.filter(remembered).length).toBe(model.size);
    },
  );

  it('sized for the expected count at a load of at most 3/4, not rounded to a power of two, and still grows past it', () => {
    expect(capacityFor(0)).toBe(1024);
    expect(capacityFor(768)).toBe(1024);
    expect(capacityFor(769)).toBe(1026);
    // The backup task's 770,000 items + 5 %: 1.08 M slots (25.9 MB), where a power of two took 2^21 (50 MB).
    expect(capacityFor(808_500)).toBe(1_078_000);
    const index = new CasIndex(100);
    const keys = Array.from({ length: 5_000 }, (_, n) => keyDigestId(keyOf(n * 7 + 1)));
    expect(keys.filter((id, n) => !index.rememberNew(id, n))).toEqual([]);
    expect(index.size).toBe(5_000);
    expect(keys.filter((id) => !index.has(id))).toEqual([]);
  });

  it('tells new, changed and unchanged keys in a delta pass and lists the deleted ones', () => {
    const index = new CasIndex();
    for (let n = 0; n < 5_000; n++) index.rememberNew(keyDigestId(keyOf(n)), n);
    index.beginDelta();
    const verdicts = { new: 0, changed: 0, unchanged: 0 };
    // 0..3999 still there, every tenth with a new cas; 5000..5499 new; 4000..4999 deleted.
    for (let n = 0; n < 5_500; n++) {
      if (n >= 4_000 && n < 5_000) continue;
      verdicts[index.observe(keyDigestId(keyOf(n)), n % 10 === 0 ? n + 1 : n)]++;
    }
    expect(verdicts).toEqual({ new: 500, changed: 400, unchanged: 3_600 });
    const deleted = index.endDelta().map(digestIdOf).sort();
    const expected = Array.from({ length: 1_000 }, (_, i) =>
      keyDigest(keyOf(4_000 + i)).toString('base64'),
    ).sort();
    expect(deleted).toEqual(expected);
    expect(index.size).toBe(4_500);
    expect(index.has(keyDigestId(keyOf(4_500)))).toBe(false);
    expect(index.has(keyDigestId(keyOf(5_200)))).toBe(true);
  });

  it('keeps every key reachable when a deletion shifts a probe run that wraps past the last slot', () => {
    // 1024 slots: A and C start at the last slot, B at the first; C probes past A and B to slot 1.
    const homeOf = (n: number) => keyDigest(keyOf(n)).readUInt32BE(0) % 1024;
    const find = (home: number, skip = -1) => {
      for (let n = 0; ; n++) if (n !== skip && homeOf(n) === home) return n;
    };
    const a = find(1023);
    const b = find(0);
    const c = find(1023, a);
    const index = new CasIndex();
    for (const n of [a, b, c]) index.rememberNew(keyDigestId(keyOf(n)), n);
    index.forget(keyDigestId(keyOf(a)));
    // B must stay in its home slot and C move back over A's.
    expect([b, c].map((n) => index.casOf(keyDigestId(keyOf(n))))).toEqual([b, c]);
    expect(index.has(keyDigestId(keyOf(a)))).toBe(false);
  });

  it('refuses a string that is not a digest id', () => {
    expect(() => new CasIndex().has('short')).toThrow(RangeError);
    expect(() => new CasIndex().has('!'.repeat(20))).toThrow(RangeError);
  });
});
