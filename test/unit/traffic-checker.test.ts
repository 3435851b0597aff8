import { describe, expect, it } from 'vitest';
import {
  ErrorStretch,
  KeyLedger,
  Pacer,
  parseTrafficValue,
  type ReadVerdict,
  TrafficTally,
  trafficValue,
} from '../lab/traffic.js';

// The traffic harness's judge, without a server: events in, verdicts out.

const key = 'traffic:7';
const value = (seq: number, writer = 'w7') => trafficValue(key, seq, writer, 200);

/** A key preloaded at 0 ms, then set to seq 1 (acked at 20 ms) and seq 2 (acked at 40 ms). */
function twiceSetKey(): KeyLedger {
  const ledger = new KeyLedger(key, 'preloaded');
  for (const at of [10, 30]) ledger.acked(ledger.setSent(at), at + 10);
  return ledger;
}

/** Sends a read at `at`, answers it with `raw` 1 ms later. */
function readBack(ledger: KeyLedger, raw: string | null, at = 100): ReadVerdict {
  return ledger.readResult(ledger.readSent(at), raw, at + 1);
}

describe('traffic values', () => {
  it('round-trip their seq and writer, padded to the size asked', () => {
    const raw = trafficValue(key, 42, 'hot', 200);
    expect(raw).toHaveLength(200);
    expect(parseTrafficValue(key, raw)).toEqual({ seq: 42, writer: 'hot' });
  });

  it('are not accepted under another key, cut short, or altered', () => {
    const raw = trafficValue('traffic:8', 3, 'w0', 200);
    expect(parseTrafficValue('traffic:8', raw)).toEqual({ seq: 3, writer: 'w0' });
    expect(parseTrafficValue(key, raw)).toBeNull();
    for (const cut of [199, 150, 'v|3|w0|traffic:8|'.length]) {
      expect(parseTrafficValue('traffic:8', raw.slice(0, cut))).toBeNull();
    }
    expect(parseTrafficValue('traffic:8', raw.replace('...', '..x'))).toBeNull();
  });

  it('keep their whole header when the size asked is smaller', () => {
    expect(trafficValue(key, 12, 'w7', 4)).toBe('v|12|w7|traffic:7|$');
  });
});

describe('the key ledger', () => {
  it('passes the latest acked value and flags an older acked value as stale, naming key, seqs and times', () => {
    const ledger = twiceSetKey();
    expect(readBack(ledger, value(2))).toEqual({ kind: 'fresh' });
    const verdict = readBack(ledger, value(1));
    expect(verdict.kind).toBe('stale');
    expect(verdict).toMatchObject({ detail: expect.stringContaining(key) });
    expect(verdict).toMatchObject({
      detail: expect.stringMatching(/got seq 1 .*expected seq ≥ 2 \(set acked \+40ms\)/),
    });
    expect(readBack(ledger, value(0, 'pre')).kind).toBe('stale');
  });

  it('flags any value read after an acked delete as a resurrected delete', () => {
    const ledger = twiceSetKey();
    ledger.acked(ledger.deleteSent(50), 51);
    expect(readBack(ledger, value(2)).kind).toBe('resurrected');
    expect(readBack(ledger, value(0, 'pre')).kind).toBe('resurrected');
    expect(readBack(ledger, null)).toEqual({ kind: 'miss' });
  });

  it('allows the value of a failed write, and the value before it, until the next acked write', () => {
    const ledger = twiceSetKey();
    const failed = ledger.setSent(50);
    ledger.failed(failed, 550);
    expect(readBack(ledger, value(failed), 600)).toEqual({ kind: 'fresh' });
    expect(readBack(ledger, value(2), 610)).toEqual({ kind: 'fresh' });
    ledger.acked(ledger.setSent(700), 701);
    expect(readBack(ledger, value(failed), 710).kind).toBe('stale');
  });

  it('after a failed delete allows a miss or the earlier value, but nothing older', () => {
    const ledger = twiceSetKey();
    ledger.failed(ledger.deleteSent(50), 550);
    expect(readBack(ledger, null, 600)).toEqual({ kind: 'miss' });
    expect(readBack(ledger, value(2), 610)).toEqual({ kind: 'fresh' });
    expect(readBack(ledger, value(1), 620).kind).toBe('stale');
  });

  it('allows a miss, but reports one after an acked set with no delete since', () => {
    const ledger = twiceSetKey();
    expect(readBack(ledger, null).kind).toBe('miss-after-acked-write');
    // A delete in flight explains the miss.
    ledger.deleteSent(200);
    expect(readBack(ledger, null, 201)).toEqual({ kind: 'miss' });
    // A key that was never there misses with nothing to report.
    expect(readBack(new KeyLedger('traffic:hot', 'absent'), null)).toEqual({ kind: 'miss' });
  });

  it('flags a value it never wrote: another key’s, a seq not yet sent, or garbage', () => {
    const ledger = twiceSetKey();
    expect(readBack(ledger, trafficValue('traffic:8', 2, 'w0', 200)).kind).toBe('foreign');
    expect(readBack(ledger, value(3)).kind).toBe('foreign');
    expect(readBack(ledger, 'hello').kind).toBe('foreign');
  });

  it('lets a read concurrent with a hot-key write return either value, but never go back past an acked write', () => {
    const hot = new KeyLedger('traffic:hot', 'absent');
    const hotValue = (seq: number) => trafficValue('traffic:hot', seq, 'hot', 200);
    for (let at = 1; at <= 5; at++) hot.acked(hot.setSent(at), at + 0.5);
    // A read sent while seq 6 is in flight: seq 5 (acked) and seq 6 (in flight) are both current.
    const inFlight = hot.setSent(6);
    const during = hot.readSent(6.1);
    const alsoDuring = hot.readSent(6.2);
    hot.acked(inFlight, 6.5);
    expect(hot.readResult(during, hotValue(5), 6.6)).toEqual({ kind: 'fresh' });
    expect(hot.readResult(alsoDuring, hotValue(6), 6.7)).toEqual({ kind: 'fresh' });
    // Sent after seq 6's ack: seq 5 is going backwards.
    const after = hot.readSent(7);
    expect(hot.readResult(after, hotValue(5), 7.1).kind).toBe('stale');
    expect(readBack(hot, hotValue(4), 8).kind).toBe('stale');
  });

  it('keeps, for a slow read, the ops since its floor: a delete during it explains its miss', () => {
    const hot = new KeyLedger('traffic:hot', 'preloaded');
    const slowRead = hot.readSent(0);
    hot.acked(hot.deleteSent(1), 2);
    for (let at = 3; at <= 1000; at++) hot.acked(hot.setSent(at), at + 0.5);
    expect(hot.readResult(slowRead, null, 1001)).toEqual({ kind: 'miss' });
    expect(readBack(hot, null, 1002).kind).toBe('miss-after-acked-write');
  });
});

describe('the traffic tally', () => {
  it('dates each wrong key by the earliest change a read of it missed, so a cutoff says which a fence could name', () => {
    const tally = new TrafficTally();
    const stale = twiceSetKey(); // its latest set is acked at 40
    tally.record(readBack(stale, value(0, 'pre')), 'traffic', 'a');
    tally.record(readBack(stale, value(0, 'pre'), 150), 'final', 'a');
    const deleted = new KeyLedger('traffic:b', 'preloaded');
    deleted.acked(deleted.deleteSent(300), 301);
    tally.record(readBack(deleted, trafficValue('traffic:b', 0, 'pre', 200), 400), 'traffic', 'b');
    expect(tally.wrongKeysChangedBefore(40)).toBe(0);
    expect(tally.wrongKeysChangedBefore(41)).toBe(1);
    expect(tally.wrongKeysChangedBefore(302)).toBe(2);
    expect(tally.verdicts()).toMatchObject({ staleKeys: 1, resurrectedKeys: 1 });
  });

  it('counts a final-pass miss after an acked set as a lost write, and one during traffic only as a miss', () => {
    const tally = new TrafficTally();
    const ledger = twiceSetKey();
    tally.record(readBack(ledger, null), 'traffic');
    tally.record(readBack(ledger, null, 150), 'traffic');
    tally.record(readBack(ledger, null, 200), 'final');
    expect(tally.verdicts()).toMatchObject({ missesAfterAckedWrite: 2, lostWrites: 1, staleReads: 0 });
    expect(tally.verdicts().examples).toEqual([]);
  });

  it('counts final-pass staleness both in the totals and on its own, with an example naming the key', () => {
    const tally = new TrafficTally();
    const ledger = twiceSetKey();
    tally.record(readBack(ledger, value(1)), 'traffic');
    tally.record(readBack(ledger, value(0, 'pre'), 200), 'final');
    ledger.acked(ledger.deleteSent(300), 301);
    tally.record(readBack(ledger, value(2), 400), 'final');
    tally.record(readBack(ledger, null, 500), 'final');
    const verdicts = tally.verdicts();
    expect(verdicts).toMatchObject({
      staleReads: 2,
      finalStale: 1,
      resurrectedDeletes: 1,
      finalResurrected: 1,
      lostWrites: 0,
    });
    expect(verdicts.examples).toHaveLength(3);
    expect(verdicts.examples[0]).toMatch(/^traffic stale: traffic:7: got seq 1/);
    expect(verdicts.examples[2]).toMatch(/^final resurrected: traffic:7:/);
  });

  it('counts a value the harness never wrote for the key apart from staleness, with an example', () => {
    const tally = new TrafficTally();
    tally.record(readBack(twiceSetKey(), trafficValue('traffic:8', 1, 'w0', 200)), 'traffic');
    expect(tally.verdicts()).toMatchObject({ foreignValues: 1, staleReads: 0 });
    expect(tally.verdicts().examples).toEqual([
      expect.stringMatching(/^traffic foreign: traffic:7: got "v\|1\|w0\|traffic:8\|/),
    ]);
  });

  it('keeps only the first ten examples but counts every violation', () => {
    const tally = new TrafficTally();
    const ledger = twiceSetKey();
    for (let i = 0; i < 25; i++) tally.record(readBack(ledger, value(1), 100 + i), 'traffic');
    expect(tally.verdicts().staleReads).toBe(25);
    expect(tally.verdicts().examples).toHaveLength(10);
  });
});

describe('pacing and error stretches', () => {
  it('spaces ops evenly and makes up at most maxLag after a stall', () => {
    const pacer = new Pacer(20, 0, 100);
    expect([0, 0, 0].map(() => pacer.next(0))).toEqual([0, 20, 40]);
    // Stalled until 1000 ms: only 100 ms of missed slots are taken back to back.
    const waits = Array.from({ length: 8 }, () => pacer.next(1000));
    expect(waits).toEqual([0, 0, 0, 0, 0, 0, 20, 40]);
  });

  it('measures from the first failure to the next success, and counts a stretch still open', () => {
    const stretch = new ErrorStretch();
    stretch.failed(100);
    stretch.failed(300);
    stretch.succeeded(450);
    expect(stretch.longest(500)).toBe(350);
    stretch.failed(1000);
    expect(stretch.longest(1200)).toBe(350);
    expect(stretch.longest(1500)).toBe(500);
  });
});
