import { describe, expect, it } from 'vitest';
import { formatBytes, formatCount, formatDuration, formatEta, formatSeconds } from '../../src/units.js';

describe('one unit system for people', () => {
  it('sizes are binary: B, KiB, MiB, GiB, TiB, one decimal above bytes', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1024)).toBe('1.0 KiB');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    // 1000 and 1e6 are not round in binary units: no kB/MB anywhere.
    expect(formatBytes(1_000_000)).toBe('976.6 KiB');
    expect(formatBytes(119.4 * 1024 * 1024)).toBe('119.4 MiB');
    expect(formatBytes(1.5 * 1024 ** 3)).toBe('1.5 GiB');
    expect(formatBytes(2 * 1024 ** 4)).toBe('2.0 TiB');
  });

  it('a pair is shown in the unit of its total, so the two compare at a glance', () => {
    expect(formatBytes(48 * 1024 * 1024, 119 * 1024 * 1024)).toBe('48.0/119.0 MiB');
    expect(formatBytes(300 * 1024, 3 * 1024 ** 3)).toBe('0.0/3.0 GiB');
    expect(formatBytes(0, 100)).toBe('0/100 B');
  });

  it('counts are grouped by thousands with commas', () => {
    expect(formatCount(0)).toBe('0');
    expect(formatCount(41_200)).toBe('41,200');
    expect(formatCount(1_234_567)).toBe('1,234,567');
  });

  it('durations: a step to a tenth of a second, a wait in whole seconds rounded up', () => {
    expect(formatDuration(12_345)).toBe('12.3s');
    expect(formatDuration(40)).toBe('0.0s');
    expect(formatSeconds(4.2)).toBe('5 s');
    expect(formatSeconds(-1)).toBe('0 s');
    expect(formatSeconds(125)).toBe('2 min 5 s');
  });

  it('ETA: seconds, minutes, hours, rounded up and never zero while work remains', () => {
    expect(formatEta(2_100)).toBe('ETA 3 s');
    expect(formatEta(10)).toBe('ETA 1 s');
    expect(formatEta(125_000)).toBe('ETA 2 min 05 s');
    expect(formatEta(3_780_000)).toBe('ETA 1 h 03 min');
  });
});
