import { describe, expect, it } from 'vitest';
import type { LoadFigures, PerformanceSide } from '../../src/report/gate-report.js';
import { plainRenderer } from '../../src/report/plain.js';
import { performanceGate } from '../../src/tasks/gates/performance-gate.js';
import { diffSettings, settingsGate } from '../../src/tasks/gates/settings-gate.js';
import { diagnose, head, resolveText } from '../support/playbook-helpers.js';

// The gates' decisions, without a server: what fails a host, what is only
// reported, and how the playbook's thresholds are read.

function mode(opsPerRound: number[], p50: number[], p99: number[]): LoadFigures {
  const median = (values: number[]) =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
  return {
    ops_per_sec: median(opsPerRound),
    p50_ms: median(p50),
    p99_ms: median(p99),
    per_round: { ops_per_sec: opsPerRound, p50_ms: p50, p99_ms: p99 },
  };
}

function side(ops: number[], p50: number[], p99: number[]): PerformanceSide {
  return {
    single: mode(ops, p50, p99),
    pipelined: mode(ops, p50, p99),
    rounds: ops.length,
    sampled_keys: 64,
    writes: 'none',
  };
}

const defaults = { maxLatencyRegression: 0.25, minThroughputRatio: 0.8 };

describe('performance gate', () => {
  const before = side([1000, 1000, 1000, 1000, 1000], [1, 1, 1, 1, 1], [2, 2, 2, 2, 2]);

  it('passes when the new instance is as fast, figures in the detail', () => {
    const gate = performanceGate(
      before,
      side([990, 1010, 1000, 1005, 995], [1, 1, 1, 1, 1], [2, 2, 2, 2, 2]),
      defaults,
    );
    expect(gate.status).toBe('passed');
    expect(gate.detail).toMatch(/^single 1,000 → 1,000 ops\/s, p50 1 → 1 ms, p99 2 → 2 ms; pipelined /);
  });

  it('hosts measured together say so in the detail, on both sides', () => {
    const crowded = { ...before, hosts_measured_together: 3 };
    const gate = performanceGate(crowded, { ...crowded }, defaults);
    expect(gate.status).toBe('passed');
    expect(gate.detail).toContain('3 → 3 hosts measured at once');
    expect(performanceGate(before, before, defaults).detail).not.toContain('measured at once');
  });

  it('one noisy round does not fail the host: the medians hold', () => {
    const gate = performanceGate(
      before,
      side([1000, 100, 1000, 1000, 1000], [1, 9, 1, 1, 1], [2, 30, 2, 2, 2]),
      defaults,
    );
    expect(gate.status).toBe('passed');
  });

  it('a p99 that is worse in every round is reported, not gated: a short round has too few requests for it', () => {
    const gate = performanceGate(
      before,
      side([1000, 1000, 1000, 1000, 1000], [1, 1, 1, 1, 1], [44, 44, 43, 44, 45]),
      defaults,
    );
    expect(gate.status).toBe('passed');
    expect(gate.detail).toContain('p99 2 → 44 ms');
  });

  it('a regression every round agrees on fails, naming the figure and the threshold', () => {
    const gate = performanceGate(
      before,
      side([500, 520, 510, 505, 490], [2, 2, 2, 2, 2], [2, 2, 2, 2, 2]),
      defaults,
    );
    expect(gate.status).toBe('failed');
    expect(gate.detail).toMatch(
      /^single throughput 51% of before, below verify\.min_throughput_ratio 0\.8 in every round; single p50 latency 2 ms, 100% above 1 ms, beyond verify\.max_latency_regression 25% in every round; pipelined throughput/,
    );
  });

  it('a round trip past the threshold by less than 0.1 ms is below what the tunnel resolves, even when every round agrees (CI: p50 0.097 → 0.138 ms)', () => {
    const fastBefore: PerformanceSide = {
      ...side(
        [5137, 5808, 6730, 9267, 8657],
        [0.109, 0.109, 0.097, 0.095, 0.096],
        [1.67, 1.65, 0.729, 0.5, 0.6],
      ),
      pipelined: mode([36222, 36613, 40045, 43344, 34049], [0.126, 0.12, 0.13, 0.11, 0.14], [3, 3, 3, 3, 3]),
    };
    const slightlySlower: PerformanceSide = {
      ...side([4400, 4535, 4600, 4300, 4700], [0.138, 0.14, 0.137, 0.139, 0.138], [0.66, 0.7, 0.6, 0.7, 0.6]),
      pipelined: mode(
        [36222, 38649, 40045, 43344, 34049],
        [0.217, 0.22, 0.209, 0.169, 0.232],
        [1, 1, 1, 1, 1],
      ),
    };
    expect(performanceGate(fastBefore, slightlySlower, defaults).status).toBe('passed');
    // The same proportions ten times slower are a regression a client feels.
    const scaled = (s: PerformanceSide, by: number): PerformanceSide => {
      const scale = (m: LoadFigures): LoadFigures =>
        mode(
          m.per_round.ops_per_sec.map((n) => Math.round(n / by)),
          m.per_round.p50_ms.map((n) => Number((n * by).toFixed(3))),
          m.per_round.p99_ms.map((n) => Number((n * by).toFixed(3))),
        );
      return { ...s, single: scale(s.single), pipelined: scale(s.pipelined) };
    };
    const gate = performanceGate(scaled(fastBefore, 10), scaled(slightlySlower, 10), defaults);
    expect(gate.status).toBe('failed');
    expect(gate.detail).toMatch(/^single p50 latency 1\.38 ms, 42% above 0\.97 ms/);
  });

  it('a median beyond the threshold but rounds that overlap the old ones is noise, not a regression', () => {
    const noisyBefore = side([1000, 600, 1000, 1000, 700], [1, 3, 1, 1, 1], [2, 2, 2, 2, 2]);
    const gate = performanceGate(
      noisyBefore,
      side([700, 650, 760, 1000, 700], [1.5, 1.5, 1.5, 1, 1.5], [2, 2, 2, 2, 2]),
      defaults,
    );
    expect(gate.status).toBe('passed');
  });
});

describe('settings gate', () => {
  const before = {
    maxconns: '1024',
    item_size_max: '1048576',
    slab_automove_window: '30',
    binding_protocol: 'auto-negotiate',
  };

  it('a client-visible change fails unless accepted; other differences are only shown', () => {
    const after = {
      maxconns: '2048',
      item_size_max: '1048576',
      slab_automove_window: '10',
      binding_protocol: 'ascii',
      client_flags_size: '4',
    };
    const refused = settingsGate(diffSettings(before, after, ['maxconns']), { check: false });
    expect(refused.status).toBe('failed');
    expect(refused.detail).toBe(
      'changed for clients: binding_protocol auto-negotiate → ascii — not in verify.accept_settings; accepted: maxconns 1024 → 2048; 2 other differences: client_flags_size (not reported) → 4, slab_automove_window 30 → 10',
    );
    const accepted = settingsGate(diffSettings(before, after, ['maxconns', 'binding_protocol']), {
      check: false,
    });
    expect(accepted.status).toBe('passed');
    if (accepted.gate !== 'settings') throw new Error('not the settings gate');
    expect(accepted.differences.map((d) => [d.setting, d.client_visible, d.accepted])).toEqual([
      ['binding_protocol', true, true],
      ['maxconns', true, true],
      ['client_flags_size', false, false],
      ['slab_automove_window', false, false],
    ]);
  });

  it('no difference at all passes and says so', () => {
    expect(settingsGate(diffSettings(before, before, []), { check: false }).detail).toBe(
      'no client-visible setting changed',
    );
  });
});

describe('verify thresholds in the playbook', () => {
  const hosts = 'hosts:\n  a:\n    address: 10.0.0.1\n';

  it('default to 25 %, 0.8 and nothing accepted', () => {
    expect(resolveText(`${head}${hosts}`).verify).toEqual({
      sample: 1000,
      full: false,
      minRestoredRatio: 1,
      acceptSettings: [],
      maxLatencyRegression: 0.25,
      minThroughputRatio: 0.8,
    });
  });

  it('take a latency regression as a fraction or a percentage', () => {
    const text = (value: string) =>
      `${head}verify:\n  max_latency_regression: ${value}\n  min_throughput_ratio: 0.5\n  accept_settings: [maxconns]\n${hosts}`;
    expect(resolveText(text('0.4')).verify).toMatchObject({
      maxLatencyRegression: 0.4,
      minThroughputRatio: 0.5,
      acceptSettings: ['maxconns'],
    });
    expect(resolveText(text('"40%"')).verify.maxLatencyRegression).toBeCloseTo(0.4);
  });

  it('refuse a negative regression and a setting name that cannot be one, at their positions', () => {
    const problems = diagnose(
      `${head}verify:\n  max_latency_regression: -1\n  accept_settings: ["max conns"]\n${hosts}`,
    );
    expect(problems.map((p) => `${p.line}:${p.col}: ${p.message}`)).toEqual([
      '8:27: verify.max_latency_regression: must be a fraction ≥ 0 like 0.25 or a percentage like "25%" (got -1)',
      '9:21: verify.accept_settings[0]: must be a name as `stats settings` prints it, like maxconns or item_size_max (got text "max conns")',
    ]);
  });
});

describe('gate events in plain output', () => {
  it('one line per gate; in --check a failure reads "would fail"', () => {
    const lines: string[] = [];
    const render = plainRenderer((line) => lines.push(line), false);
    render({
      event: 'gate',
      host: 'host1',
      task: 'verify',
      check: true,
      gate: 'settings',
      status: 'failed',
      detail: 'would change for clients: maxconns 1024 → 2048 (-c 2048)',
      differences: [],
    });
    render({
      event: 'gate',
      host: 'host1',
      task: 'verify',
      check: false,
      gate: 'protocol',
      status: 'passed',
      detail: 'text, meta, binary answer as on 1.6.18; auth none',
      probes: [],
    });
    expect(lines).toEqual([
      'host1 verify gate settings would fail: would change for clients: maxconns 1024 → 2048 (-c 2048)',
      'host1 verify gate protocol passed: text, meta, binary answer as on 1.6.18; auth none',
    ]);
  });
});
