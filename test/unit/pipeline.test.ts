import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { PipelineDefinitionError, parsePipeline } from '../../src/engine/pipeline.js';
import { pipelineSchema } from '../../src/engine/pipeline-file.js';
import { playbookSchema } from '../../src/playbook/schema.js';
import { taskNames, taskOrderProblems } from '../../src/playbook/task-order.js';

/** The message parsePipeline refuses `text` with (as x.yml); fails the test when it accepts it. */
function refusal(text: string): string {
  try {
    parsePipeline(text, 'x.yml');
  } catch (error) {
    expect(error).toBeInstanceOf(PipelineDefinitionError);
    return (error as Error).message;
  }
  throw new Error(`accepted:\n${text}`);
}

const sequence = (tasks: string) =>
  `name: x\nphases:\n  - name: p\n    batches: fleet\n    tasks: [${tasks}]\n`;

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
  it('playbooks/backup.yml and restore.yml leave tasks out and still load: the rule is order and dependencies', async () => {
    const tasksOf = async (name: string) =>
      parsePipeline(await readFile(`playbooks/${name}.yml`, 'utf8'), `${name}.yml`).phases.flatMap((p) =>
        p.tasks.map((t) => t.name),
      );
    expect(await tasksOf('backup')).toEqual(['version_check', 'backup']);
    expect(await tasksOf('restore')).toEqual(['version_check', 'restore']);
  });

  it('swap before backup is refused, naming the file, the line and the task', () => {
    const message = refusal(sequence('version_check, swap, backup'));
    expect(message).toContain('x.yml:5:28: phases[0].tasks[1]: "swap" needs "backup" before it');
    expect(message).toContain(
      'x.yml:5:34: phases[0].tasks[2]: "backup" comes after "swap"; the built-in tasks run in the order version_check, build, backup, swap, restore, verify',
    );
  });
  it('the order holds across phases, and a task needs what it reads from an earlier one', () => {
    const text =
      'name: x\nphases:\n  - {name: a, batches: fleet, tasks: [version_check, restore]}\n  - {name: b, batches: serial, tasks: [backup]}\n';
    expect(refusal(text)).toBe(
      'x.yml:4:40: phases[1].tasks[0]: "backup" comes after "restore"; the built-in tasks run in the order version_check, build, backup, swap, restore, verify',
    );
    expect(refusal(sequence('version_check, verify'))).toBe(
      'x.yml:5:28: phases[0].tasks[1]: "verify" needs "restore" before it',
    );
    expect(refusal(sequence('backup'))).toBe(
      'x.yml:5:13: phases[0].tasks[0]: "backup" needs "version_check" before it',
    );
  });
  it('a task listed twice is refused', () => {
    expect(refusal(sequence('version_check, backup, backup'))).toBe(
      'x.yml:5:36: phases[0].tasks[2]: "backup" is listed twice; each built-in task runs once',
    );
  });
  it('an unknown task name is refused with where it is and the closest name', () => {
    expect(refusal(sequence('version_check, bakup'))).toBe(
      'x.yml:5:28: phases[0].tasks[1]: unknown task "bakup" — did you mean "backup"?; the built-in tasks are version_check, build, backup, swap, restore, verify',
    );
  });
  it('a missing name or phases, an empty phase and a bad batches are refused', () => {
    expect(refusal('phases:\n  - {name: p, batches: fleet, tasks: [version_check]}\n')).toBe(
      'x.yml:1:1: needs "name"',
    );
    expect(refusal('name: x\n')).toBe('x.yml:1:1: needs "phases"');
    expect(refusal('name: x\nphases: []\n')).toBe('x.yml:2:1: phases: must NOT have fewer than 1 items');
    expect(refusal('name: x\nphases:\n  - {name: p, batches: all, tasks: [version_check]}\n')).toBe(
      'x.yml:3:24: phases[0].batches: must be fleet or serial',
    );
    expect(
      refusal('name: x\nphases:\n  - {name: p, batches: fleet, tasks: [version_check], when: x}\n'),
    ).toBe('x.yml:3:55: phases[0]: unknown key "when"');
  });
  it('text that is not YAML is refused at its position', () => {
    expect(refusal('name: x\nphases: [\n')).toMatch(/^x\.yml:\d+:\d+: not valid YAML: /);
  });
});

describe('the task order, declared once', () => {
  it("the sequence schema's task names are the declared ones, in order", () => {
    const taskName = (pipelineSchema.$defs as Record<string, { enum: unknown[] }>).taskName;
    expect(taskName?.enum).toEqual([...taskNames]);
  });
  it("the playbook schema's description of tasks: names every built-in task, in order", () => {
    const tasks = (playbookSchema.properties as Record<string, { description: string }>).tasks;
    expect(tasks?.description).toContain(
      `Every built-in task — ${taskNames.map((name) => `\`${name}\``).join(', ')} — appears once, in that order`,
    );
  });
  it('the full order passes the dependency check, and each dependency is declared earlier in it', () => {
    expect(taskOrderProblems(taskNames)).toEqual([]);
  });
});
