import { describe, expect, it } from 'vitest';
import { cpuBetween } from '../../scripts/bench/cpu-account.js';

// The fleet bench splits a run's CPU time by task from readings every 100 ms:
// a task that falls between two readings gets its share of the time between them.

describe('cpuBetween', () => {
  const samples = [
    { atMs: 1000, usedS: 10 },
    { atMs: 1100, usedS: 10.2 },
    { atMs: 1200, usedS: 10.2 },
    { atMs: 1300, usedS: 10.5 },
  ];

  it('reads the CPU used between two times, linear between readings', () => {
    expect(cpuBetween(samples, 1000, 1300)).toBeCloseTo(0.5);
    expect(cpuBetween(samples, 1050, 1100)).toBeCloseTo(0.1);
    expect(cpuBetween(samples, 1100, 1200)).toBeCloseTo(0);
    expect(cpuBetween(samples, 1250, 1300)).toBeCloseTo(0.15);
  });

  it('clamps to the first and last readings, and is zero without readings', () => {
    expect(cpuBetween(samples, 0, 5000)).toBeCloseTo(0.5);
    expect(cpuBetween(samples, 1400, 5000)).toBe(0);
    expect(cpuBetween([], 0, 1)).toBe(0);
  });
});
