import { describe, expect, it } from 'vitest';
import { type HostPlanResult, summarizePlans } from '../../src/engine/plan-summary.js';
import type { Serial, Strategy } from '../../src/playbook/types.js';
import { formatHostPlans, formatPlanSummary } from '../../src/report/plan-view.js';
import type { PlanAction } from '../../src/tasks/task.js';

const upgrade = (
  host: string,
  port: number,
  items: number,
  bytes: number,
  build: PlanAction,
): HostPlanResult => ({
  host,
  outcome: 'changed',
  actions: [
    build,
    { kind: 'backup', items, bytes, version: '1.6.18', text: `back up ${items} items` },
    { kind: 'stop', version: '1.6.18', port, text: `stop 1.6.18 on port ${port}` },
    { kind: 'repoint', version: '1.6.38', text: 'repoint current 1.6.18 → 1.6.38' },
    { kind: 'start', version: '1.6.38', port, text: `restart on port ${port} as 1.6.38` },
    { kind: 'restore', items, bytes, text: `restore ${items} items` },
  ],
});
const compile: PlanAction = {
  kind: 'compile',
  version: '1.6.38',
  text: 'build 1.6.38 from memcached-1.6.38.tar.gz',
};
const ship: PlanAction = { kind: 'ship', version: '1.6.38', from: 'h1', text: 'receive 1.6.38 built on h1' };

const strategy = (serial: Serial, rest: Partial<Strategy> = {}): Strategy => ({
  serial,
  maxFailPercentage: 0,
  pauseBetweenBatches: 0,
  confirmBetweenBatches: false,
  ...rest,
});

const fleet: HostPlanResult[] = [
  upgrade('h1', 11211, 100_000, 119_000_000, compile),
  upgrade('h2', 11211, 2_000, 3_500_000, ship),
  { host: 'h3', outcome: 'ok', actions: [] },
  upgrade('h4', 11212, 1, 100, ship),
  { host: 'h5', outcome: 'unreachable', actions: [] },
];

describe('the --check fleet summary adds up the plans', () => {
  it('counts hosts, builds, backup sizes and who is out of service in each batch of apply (serial 2: the unchanged host first)', () => {
    const summary = summarizePlans(fleet, strategy([{ kind: 'count', count: 2 }]));
    expect(summary).toEqual({
      hosts: 5,
      changing: ['h1', 'h2', 'h4'],
      unchanged: ['h3'],
      failed: [],
      unreachable: ['h5'],
      failures: [],
      compile: [{ host: 'h1', version: '1.6.38' }],
      ship: [
        { host: 'h2', from: 'h1', version: '1.6.38' },
        { host: 'h4', from: 'h1', version: '1.6.38' },
      ],
      backup_hosts: 3,
      backup_items: 102_001,
      backup_bytes: 122_500_100,
      batches: [
        { batch: 1, hosts: ['h3'], out_of_service: [], on_target: true },
        { batch: 2, hosts: ['h1', 'h2'], out_of_service: ['h1', 'h2'] },
        { batch: 3, hosts: ['h4', 'h5'], out_of_service: ['h4'] },
      ],
      max_out_of_service: 2,
      pause_between_batches: 0,
      confirm_between_batches: false,
      max_failed_hosts: null,
    });
  });

  it('a percentage serial batches as apply does (25% of 5 → 2 per batch, after the unchanged host)', () => {
    const summary = summarizePlans(fleet, strategy([{ kind: 'percent', percent: 25 }]));
    expect(summary.batches.map((b) => b.hosts.length)).toEqual([1, 2, 2]);
  });

  it('a list serial [1, "100%"]: a canary batch, then every other host at once, as apply runs them', () => {
    const changing = fleet.filter((r) => r.outcome === 'changed');
    const summary = summarizePlans(
      changing,
      strategy([
        { kind: 'count', count: 1 },
        { kind: 'percent', percent: 100 },
      ]),
    );
    expect(summary.batches).toEqual([
      { batch: 1, hosts: ['h1'], out_of_service: ['h1'] },
      { batch: 2, hosts: ['h2', 'h4'], out_of_service: ['h2', 'h4'] },
    ]);
    expect(formatPlanSummary(summary).at(-1)).toBe(
      '  out of service: at most 2 hosts at a time, in 2 batches: h1 | h2, h4',
    );
  });

  it('says what comes between the batches and the failure budget, counting only the batches that change hosts', () => {
    const summary = summarizePlans(
      fleet,
      strategy([{ kind: 'count', count: 2 }], {
        pauseBetweenBatches: 30,
        confirmBetweenBatches: true,
        maxFailedHosts: { kind: 'percent', percent: 25 },
      }),
    );
    expect(summary).toMatchObject({
      pause_between_batches: 30,
      confirm_between_batches: true,
      max_failed_hosts: 1,
    });
    expect(formatPlanSummary(summary).slice(-3)).toEqual([
      '  out of service: at most 2 hosts at a time, in 2 batches: h1, h2 | h4',
      '  between batches: wait 30 s, then ask whether to go on, before each batch after the first (once)',
      '  failure budget: no further batch starts once more than 1 of 5 hosts have failed (max_failed_hosts)',
    ]);
    const askOnly = summarizePlans(
      fleet,
      strategy([{ kind: 'count', count: 1 }], { confirmBetweenBatches: true }),
    );
    expect(formatPlanSummary(askOnly).at(-1)).toBe(
      '  between batches: ask whether to go on, before each batch after the first (2 times)',
    );
  });

  it('prints each host with its actions indented, then the summary', () => {
    const summary = summarizePlans(fleet, strategy([{ kind: 'count', count: 1 }]));
    const actions = new Map(fleet.map((r) => [r.host, r.actions]));
    const lines = formatHostPlans(
      fleet.map((r) => r.host),
      actions,
      summary,
    );
    expect(lines.slice(0, 3)).toEqual(['PLAN', 'h1', '  - build 1.6.38 from memcached-1.6.38.tar.gz']);
    expect(lines).toContain('  - back up 100000 items');
    expect(lines.slice(lines.indexOf('h3'), lines.indexOf('h3') + 2)).toEqual(['h3', '  nothing to change']);
    expect(lines.slice(lines.indexOf('h5'), lines.indexOf('h5') + 2)).toEqual([
      'h5',
      '  no plan: unreachable (see above)',
    ]);
    expect(formatPlanSummary(summary)).toEqual([
      'SUMMARY',
      '  hosts: 3 of 5 would change (h1, h2, h4); 1 unchanged',
      '  not planned: h5 (unreachable)',
      "  builds: compile 1.6.38 on h1; ship h1's build to h2, h4",
      '  back up: 102,001 items / 116.8 MiB on 3 hosts',
      '  out of service: at most 1 host at a time, in 3 batches: h1 | h2 | h4',
    ]);
  });

  it('every predicted failure is in the summary, with the task it would stop at and why', () => {
    const summary = summarizePlans(
      [
        ...fleet.slice(0, 2),
        {
          host: 'h6',
          outcome: 'failed',
          actions: [],
          failure: {
            task: 'verify',
            detail: 'settings gate would fail: maxbytes 268435456 → 1073741824 (-m 1024)',
          },
        },
      ],
      strategy([{ kind: 'count', count: 1 }]),
    );
    expect(summary.failed).toEqual(['h6']);
    expect(formatPlanSummary(summary)).toContain(
      '  would fail: h6 at verify: settings gate would fail: maxbytes 268435456 → 1073741824 (-m 1024)',
    );
  });

  it('a fleet already on the target: nothing to build, back up or take down', () => {
    const summary = summarizePlans(
      [
        { host: 'a', outcome: 'ok', actions: [] },
        { host: 'b', outcome: 'ok', actions: [] },
      ],
      strategy([{ kind: 'count', count: 1 }]),
    );
    expect(formatPlanSummary(summary)).toEqual([
      'SUMMARY',
      '  hosts: 0 of 2 would change; 2 unchanged',
      '  builds: none',
      '  back up: nothing',
      '  out of service: none',
    ]);
  });
});

describe('the out-of-service estimate in the plan', () => {
  it('grows with the cache, cold far faster than warm or handover, and says it is an estimate', async () => {
    const { estimateOutOfServiceMs, describeEstimate } = await import(
      '../../src/tasks/out-of-service-estimate.js'
    );
    const MiB = 1024 * 1024;
    // The bench figures it is drawn from: cold 120 MB ~0.75 s, warm 1 GB ~0.53 s, handover 1 GB ~0.72 s.
    expect(estimateOutOfServiceMs('cold', 114 * MiB)).toBeGreaterThan(700);
    expect(estimateOutOfServiceMs('cold', 114 * MiB)).toBeLessThan(800);
    expect(estimateOutOfServiceMs('warm', 1024 * MiB)).toBeCloseTo(530, -1);
    expect(estimateOutOfServiceMs('handover', 1024 * MiB)).toBeCloseTo(735, -1);
    expect(estimateOutOfServiceMs('cold', 0)).toBeLessThan(estimateOutOfServiceMs('cold', MiB));
    expect(describeEstimate('cold', 114 * MiB)).toBe('about 0.8 s for 114.0 MiB (estimate)');
  });
});
