import { describe, expect, it } from 'vitest';
import { parseView } from '../../src/cli/output.js';
import { batchLinesRenderer, batchLiveRenderer } from '../../src/report/batch-renderer.js';
import { BatchView } from '../../src/report/batch-view.js';
import type { RunEvent } from '../../src/report/events.js';
import { chooseLiveView } from '../../src/report/fleet-view.js';
import { LiveArea } from '../../src/report/live-area.js';

// The batch view at hundreds of hosts (issue 18): a line per batch with its hosts
// counted by state, finished batches collapsed to their line, failures printed the
// moment they happen, and a line form for logs that does not repeat itself per tick.

const phases = new Map([
  ['prepare', ['version_check', 'build']],
  ['rolling', ['backup', 'swap', 'restore', 'verify']],
]);

const start: RunEvent = {
  event: 'start',
  playbook: 'fleet.yml',
  name: 'fleet upgrade',
  check: false,
  hosts: ['h1', 'h2', 'h3', 'h4', 'h5'],
  tasks: ['version_check', 'build', 'backup', 'swap', 'restore', 'verify'],
  job: 'upgrade',
  memplay_version: '0.1.0',
  target_version: '1.6.38',
  log: null,
  journal: null,
};

const batch = (phase: string, n: number, of: number, hosts: string[]): RunEvent => ({
  event: 'batch',
  phase,
  batch: n,
  batches: of,
  hosts,
});
const begin = (host: string, task: string): RunEvent => ({ event: 'task-start', host, task }) as RunEvent;
const end = (host: string, task: string, status: 'ok' | 'changed' | 'failed', detail = 'fine'): RunEvent =>
  ({ event: 'task', host, task, status, detail, check: false, duration_ms: 10 }) as RunEvent;

/** A clock the test moves by hand, in milliseconds. */
function clock() {
  let at = 0;
  return { now: () => at, advance: (ms: number) => (at += ms) };
}

describe('the batch view', () => {
  it('counts the batch’s hosts by state, the running ones by task in pipeline order', () => {
    const time = clock();
    const view = new BatchView(phases, time.now);
    view.handle(start);
    view.handle(batch('rolling', 2, 10, ['h1', 'h2', 'h3', 'h4', 'h5']));
    for (const event of [
      begin('h1', 'swap'),
      begin('h2', 'backup'),
      begin('h3', 'backup'),
      begin('h4', 'backup'),
      end('h4', 'backup', 'changed'),
      begin('h4', 'swap'),
    ])
      expect(view.handle(event)).toEqual([]);
    time.advance(42_500);
    expect(view.liveLines()).toEqual([
      'rolling batch 2/10 · 5 hosts · 1 pending · 4 running (backup 2, swap 2) · 42 s',
    ]);
  });

  it('counts a host ok or changed once it settled every task of its phase, not between two of them', () => {
    const view = new BatchView(phases, () => 0);
    view.handle(start);
    view.handle(batch('rolling', 1, 1, ['h1', 'h2']));
    for (const task of ['backup', 'swap', 'restore', 'verify']) {
      view.handle(begin('h1', task));
      view.handle(end('h1', task, task === 'swap' ? 'changed' : 'ok'));
    }
    view.handle(begin('h2', 'backup'));
    view.handle(end('h2', 'backup', 'ok'));
    expect(view.liveLines()).toEqual([
      'rolling batch 1/1 · 2 hosts · 1 running (backup 1) · 1 changed · 0 s',
    ]);
    for (const task of ['swap', 'restore', 'verify']) {
      view.handle(begin('h2', task));
      view.handle(end('h2', task, 'ok'));
    }
    expect(view.liveLines()).toEqual(['rolling batch 1/1 · 2 hosts · 1 ok · 1 changed · 0 s']);
  });

  it('prints a failure on its own line the moment it happens, the error’s first line only', () => {
    const view = new BatchView(phases, () => 0);
    view.handle(start);
    view.handle(batch('rolling', 1, 2, ['h1', 'h2']));
    view.handle(begin('h1', 'swap'));
    expect(
      view.handle(end('h1', 'swap', 'failed', 'new instance did not answer on 11211\nstderr: bind: in use')),
    ).toEqual(['h1 swap failed: new instance did not answer on 11211']);
    expect(
      view.handle({ event: 'unreachable', host: 'h2', reason: 'timeout', detail: 'no answer in 10 s' }),
    ).toEqual(['h2 UNREACHABLE (timeout): no answer in 10 s']);
    expect(view.handle(end('h1', 'rollback', 'ok', 'back on 1.6.18'))).toEqual([
      'h1 rollback ok: back on 1.6.18',
    ]);
    expect(view.liveLines()).toEqual(['rolling batch 1/2 · 2 hosts · 1 failed · 1 unreachable · 0 s']);
  });

  it('prints a failing gate as it happens and leaves the passing ones to the log', () => {
    const view = new BatchView(phases, () => 0);
    view.handle(start);
    view.handle(batch('rolling', 1, 1, ['h1']));
    const gate = (status: 'passed' | 'failed') =>
      ({
        event: 'gate',
        host: 'h1',
        task: 'verify',
        check: false,
        gate: 'protocol',
        status,
        detail: 'sample of 200 items',
      }) as RunEvent;
    expect(view.handle(gate('passed'))).toEqual([]);
    expect(view.handle(gate('failed'))).toEqual(['h1 verify gate protocol failed: sample of 200 items']);
  });

  it('shows the build’s progress by phase, and collapses a finished batch to its line when the next starts, the last at the recap', () => {
    const time = clock();
    const view = new BatchView(phases, time.now);
    view.handle(start);
    view.handle(batch('prepare', 1, 1, ['h1', 'h2', 'h3']));
    for (const host of ['h1', 'h2', 'h3']) {
      view.handle(begin(host, 'version_check'));
      view.handle(end(host, 'version_check', 'ok'));
      view.handle(begin(host, 'build'));
    }
    for (const host of ['h2', 'h3'])
      view.handle({
        event: 'progress',
        host,
        task: 'build',
        message: 'wait for 1.6.38 from h1',
        phase: 'wait for 1.6.38 from h1',
      });
    view.handle({
      event: 'progress',
      host: 'h1',
      task: 'build',
      message: 'make · 12/63 files',
      phase: 'make',
      items: 12,
      items_total: 63,
      unit: 'files',
    });
    expect(view.liveLines()).toEqual([
      'prepare batch 1/1 · 3 hosts · 3 running (build 3) · 0 s',
      '  build: h1 make · 12/63 files; 2 hosts wait for 1.6.38 from h1',
    ]);
    view.handle(end('h1', 'build', 'changed'));
    view.handle(end('h2', 'build', 'ok'));
    view.handle(end('h3', 'build', 'ok'));
    time.advance(65_000);
    expect(view.handle(batch('rolling', 1, 2, ['h1']))).toEqual([
      'prepare batch 1/1 done · 3 hosts · 2 ok · 1 changed · 1 min 5 s',
    ]);
    expect(view.liveLines()).toEqual(['rolling batch 1/2 · 1 host · 1 pending · 0 s']);
    time.advance(3_000);
    expect(
      view.handle({
        event: 'recap',
        hosts: {},
        interrupted: true,
        journal: null,
        controller_peak_rss_bytes: 0,
        log: null,
      }),
    ).toEqual(['rolling batch 1/2 done · 1 host · 1 not run · 3 s']);
    expect(view.liveLines()).toEqual([]);
  });

  it('says would change in --check', () => {
    const view = new BatchView(phases, () => 0);
    view.handle({ ...start, check: true } as RunEvent);
    view.handle(batch('prepare', 1, 1, ['h1']));
    view.handle(begin('h1', 'version_check'));
    view.handle(end('h1', 'version_check', 'changed'));
    view.handle(begin('h1', 'build'));
    view.handle(end('h1', 'build', 'changed'));
    expect(view.liveLines()).toEqual(['prepare batch 1/1 · 1 host · 1 would change · 0 s']);
  });
});

describe('what else the batch view prints as it happens', () => {
  const pruned = (problems?: string[]): RunEvent => ({
    event: 'backups-pruned',
    host: 'h1',
    check: false,
    folder: 'backups/h1',
    keep: 'count 3',
    pruned: [{ file: 'a.mpbak', created_at: null, bytes: 1024, reason: 'beyond the newest 3' }],
    freed_bytes: 1024,
    kept: 3,
    ...(problems ? { problems } : {}),
  });

  it('leaves pruned backups to the recap, unless one could not be pruned', () => {
    const view = new BatchView(phases, () => 0);
    expect(view.handle(pruned())).toEqual([]);
    expect(view.handle(pruned(['b.mpbak: permission denied']))).toEqual([
      'h1 backups pruned 1, 1.0 KiB freed (keep: count 3; 3 kept in backups/h1): a.mpbak (beyond the newest 3); not pruned: b.mpbak: permission denied',
    ]);
  });

  it('prints ABORTED and plan drift at once', () => {
    const view = new BatchView(phases, () => 0);
    expect(view.handle({ event: 'aborted', reason: '2 of 50 hosts failed' })).toEqual([
      'ABORTED: 2 of 50 hosts failed',
    ]);
    expect(
      view.handle({
        event: 'plan-drift',
        host: 'h1',
        task: 'swap',
        field: 'runningVersion',
        planned: '1.6.38',
        found: '1.6.18',
      }),
    ).toEqual([
      'h1 swap WARNING plan drift: runningVersion is 1.6.18, the plan predicted 1.6.38 (later tasks plan against what was found)',
    ]);
  });
});

describe('the batch view as lines for a log (non-TTY)', () => {
  it('writes the batch’s hosts, failures as they happen, counts at most every 10 s when they changed, the batch’s line at its end', () => {
    const time = clock();
    const lines: string[] = [];
    const render = batchLinesRenderer((line) => lines.push(line), { phases, now: time.now });
    render(start);
    render(batch('rolling', 1, 2, ['h1', 'h2', 'h3']));
    render(begin('h1', 'backup'));
    // A burst of progress within the interval writes nothing.
    for (let i = 0; i < 40; i++) {
      time.advance(100);
      render({ event: 'progress', host: 'h1', task: 'backup', message: `full pass · ${i}/40 items` });
    }
    render(end('h1', 'backup', 'failed', 'metadump refused\nmore'));
    time.advance(6_000);
    render(begin('h2', 'backup'));
    // Only the elapsed time moved: no line.
    time.advance(10_000);
    render({ event: 'progress', host: 'h2', task: 'backup', message: 'full pass' });
    // Ten seconds on and the counts moved: one line.
    render(begin('h3', 'backup'));
    render(end('h2', 'backup', 'ok'));
    render(batch('rolling', 2, 2, ['h4']));
    expect(lines).toEqual([
      'APPLY fleet upgrade (target 1.6.38) (fleet.yml) on h1, h2, h3, h4, h5',
      'rolling batch 1/2 · 3 hosts: h1, h2, h3',
      'h1 backup failed: metadump refused',
      'rolling batch 1/2 · 3 hosts · 1 pending · 1 running (backup 1) · 1 failed · 10 s',
      'rolling batch 1/2 · 3 hosts · 2 running (backup 2) · 1 failed · 20 s',
      'rolling batch 1/2 done · 3 hosts · 2 unfinished (backup 2) · 1 failed · 20 s',
      'rolling batch 2/2 · 1 host: h4',
    ]);
  });
});

describe('the batch view on a terminal', () => {
  it('prints a failure above the live line, redraws in place, and writes nothing when no line changed', () => {
    const writes: string[] = [];
    let frame = () => {};
    const view = batchLiveRenderer((text) => writes.push(text), {
      phases,
      columns: 200,
      now: () => 0,
      ticker: (draw) => {
        frame = draw;
        return () => {};
      },
    });
    view.handle(start);
    view.handle(batch('rolling', 1, 1, ['h1', 'h2']));
    frame();
    view.handle(begin('h1', 'swap'));
    frame();
    frame();
    view.handle(end('h1', 'swap', 'failed', 'port busy'));
    expect(writes).toEqual([
      'rolling batch 1/1 · 2 hosts · 2 pending · 0 s\n',
      '\u001b[1F\u001b[0Jrolling batch 1/1 · 2 hosts · 1 pending · 1 running (swap 1) · 0 s\n',
      '\u001b[1F\u001b[0Jh1 swap failed: port busy\nrolling batch 1/1 · 2 hosts · 1 pending · 1 running (swap 1) · 0 s\n',
    ]);
  });

  it('counts the pause between batches down under the batch line, and shows the question there', () => {
    const writes: string[] = [];
    let frame = () => {};
    let at = 0;
    const view = batchLiveRenderer((text) => writes.push(text), {
      phases,
      columns: 200,
      now: () => at,
      ticker: (draw) => {
        frame = draw;
        return () => {};
      },
    });
    view.handle(start);
    view.handle(batch('rolling', 1, 2, ['h1']));
    view.handle({ event: 'pause', seconds: 30, phase: 'rolling', batch: 2, batches: 2, hosts: ['h2'] });
    at = 12_000;
    frame();
    expect(writes.at(-1)).toBe(
      'rolling batch 1/2 · 1 host · 1 pending · 12 s\n' +
        '  pause_between_batches: batch 2 of 2: h2 starts in 18 s (Ctrl-C stops the run here)\n',
    );
    view.note('batch 2 of 2: h2 — start it? [y/N] y');
    expect(writes.at(-1)).toBe(
      '\u001b[2F\u001b[0Jrolling batch 1/2 · 1 host · 1 pending · 12 s\n  batch 2 of 2: h2 — start it? [y/N] y\n',
    );
  });

  it('prints the interrupt’s notice above the live line, where the next redraw does not erase it', () => {
    const writes: string[] = [];
    let frame = () => {};
    const view = batchLiveRenderer((text) => writes.push(text), {
      phases,
      columns: 200,
      now: () => 0,
      ticker: (draw) => {
        frame = draw;
        return () => {};
      },
    });
    view.handle(start);
    view.handle(batch('rolling', 1, 1, ['h1']));
    frame();
    view.say('interrupt: finishing the running steps');
    view.handle(begin('h1', 'backup'));
    frame();
    expect(writes.slice(1)).toEqual([
      '\u001b[1F\u001b[0Jinterrupt: finishing the running steps\nrolling batch 1/1 · 1 host · 1 pending · 0 s\n',
      '\u001b[1F\u001b[0Jrolling batch 1/1 · 1 host · 1 running (backup 1) · 0 s\n',
    ]);
  });

  it('cuts a live line to the terminal’s width, since a wrapped line could not be erased', () => {
    const writes: string[] = [];
    const area = new LiveArea((text) => writes.push(text), 20);
    area.draw(['rolling batch 1/10 · 50 hosts · 50 pending']);
    area.print(['h7 swap failed: a message longer than the terminal is wide']);
    area.clear();
    expect(writes).toEqual([
      'rolling batch 1/10…\n',
      '\u001b[1F\u001b[0Jh7 swap failed: a message longer than the terminal is wide\nrolling batch 1/10…\n',
      '\u001b[1F\u001b[0J',
    ]);
  });
});

describe('which live view a run gets', () => {
  it('auto: a tree for a few hosts, a line per host while they fit, the batch view beyond', () => {
    expect(chooseLiveView('auto', 3, 6, 40)).toBe('nested');
    expect(chooseLiveView('auto', 30, 6, 40)).toBe('per-host');
    expect(chooseLiveView('auto', 38, 6, 40)).toBe('batches');
    expect(chooseLiveView('auto', 500, 6, 60)).toBe('batches');
  });

  it('--view batches and --view hosts override the terminal’s height', () => {
    expect(chooseLiveView('batches', 3, 6, 40)).toBe('batches');
    expect(chooseLiveView('hosts', 500, 6, 40)).toBe('per-host');
  });

  it('refuses a --view it does not know, naming the ones it does', () => {
    expect(() => parseView('tree')).toThrow('--view must be auto, batches or hosts, got "tree"');
    expect(parseView('batches')).toBe('batches');
  });
});
