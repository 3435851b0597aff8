import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parsePipeline } from '../../src/engine/pipeline.js';

describe('built-in pipelines', () => {
  it('playbooks/upgrade.yml: prepare (version_check, build) on the fleet, then swap and verify in serial batches', async () => {
    const pipeline = parsePipeline(await readFile('playbooks/upgrade.yml', 'utf8'), 'upgrade.yml');
    expect(pipeline.phases.map((p) => [p.name, p.batches, p.tasks.map((t) => t.name)])).toEqual([
      ['prepare', 'fleet', ['version_check', 'build']],
      ['rolling', 'serial', ['backup', 'swap', 'restore', 'verify']],
    ]);
  });
  it('playbooks/rollback.yml: version_check on the fleet (no build: the previous build is installed), then the same rolling tasks', async () => {
    const pipeline = parsePipeline(await readFile('playbooks/rollback.yml', 'utf8'), 'rollback.yml');
    expect(pipeline.phases.map((p) => [p.name, p.batches, p.tasks.map((t) => t.name)])).toEqual([
      ['prepare', 'fleet', ['version_check']],
      ['rolling', 'serial', ['backup', 'swap', 'restore', 'verify']],
    ]);
  });
  it('an unknown task name is refused with where it is', () => {
    expect(() =>
      parsePipeline(
        'name: x\nphases:\n  - {name: p, batches: fleet, tasks: [version_check, compile]}\n',
        'x.yml',
      ),
    ).toThrow('x.yml: phases[0]: unknown task compile');
  });
  it('batches must be fleet or serial', () => {
    expect(() =>
      parsePipeline('name: x\nphases:\n  - {name: p, batches: all, tasks: []}\n', 'x.yml'),
    ).toThrow('phases[0].batches must be fleet or serial');
  });
});
