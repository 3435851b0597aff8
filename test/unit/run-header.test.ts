import { describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/report/events.js';
import { runHeader } from '../../src/report/plain.js';

type Start = Extract<RunEvent, { event: 'start' }>;
const start = (overrides: Partial<Start>): Start =>
  ({
    event: 'start',
    playbook: '/fleet.yml',
    name: 'upgrade to 1.6.38',
    check: false,
    hosts: ['host1', 'host2'],
    tasks: ['version_check'],
    job: 'upgrade',
    memplay_version: '0.1.0',
    target_version: '1.6.38',
    ...overrides,
  }) as Start;

describe('the run header says what runs', () => {
  it('apply names its target; a rollback says it goes back, not APPLY … to the target', () => {
    expect(runHeader(start({}))).toBe('APPLY upgrade to 1.6.38 (target 1.6.38) (/fleet.yml) on host1, host2');
    expect(runHeader(start({ check: true }))).toMatch(/^CHECK APPLY /);
    const rollback = runHeader(start({ job: 'rollback', target_version: null, rollback_from: '1.6.38' }));
    expect(rollback).toBe(
      'ROLLBACK each host back to its previous build (from 1.6.38) (/fleet.yml) on host1, host2',
    );
    expect(rollback).not.toContain('APPLY');
    expect(runHeader(start({ job: 'backup' }))).toMatch(/^BACKUP upgrade to 1\.6\.38 /);
  });
});
