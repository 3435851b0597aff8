import { describe, expect, it } from 'vitest';
import { OrderedEmission } from '../../src/engine/ordered-emission.js';
import type { RunEvent } from '../../src/report/events.js';

const task = (host: string, detail: string): RunEvent => ({
  event: 'task',
  host,
  task: 'swap',
  status: 'changed',
  detail,
  check: true,
  duration_ms: 1,
});
const header = (batch: number, hosts: string[]): RunEvent => ({
  event: 'batch',
  phase: 'rolling',
  batch,
  batches: 2,
  hosts,
});

describe('--check output in apply’s order while the hosts are planned at once', () => {
  it('shows batch by batch, host after host, whatever order the plans finish in; progress of waiting hosts is dropped', () => {
    const shown: RunEvent[] = [];
    const ordered = new OrderedEmission((event) => shown.push(event));
    ordered.begin([
      { hosts: ['h1'], header: header(1, ['h1']) },
      { hosts: ['h2', 'h3'], header: header(2, ['h2', 'h3']) },
    ]);
    ordered.emit(task('h3', 'h3 plan'));
    ordered.emit({ event: 'progress', host: 'h3', task: 'swap', message: 'restoring' });
    ordered.emit(task('h2', 'h2 plan'));
    ordered.finished('h3');
    ordered.emit(task('h1', 'h1 plan'));
    // Events with no host pass straight through.
    ordered.emit({ event: 'aborted', reason: 'r' });
    ordered.finished('h1');
    ordered.finished('h2');
    ordered.end();
    expect(
      shown.map((e) => ('detail' in e ? e.detail : e.event === 'batch' ? `batch ${e.batch}` : e.event)),
    ).toEqual(['batch 1', 'h1 plan', 'aborted', 'batch 2', 'h2 plan', 'h3 plan']);
  });
});
