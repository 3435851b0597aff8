import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import type { Playbook, TaskStep } from '../playbook/types.js';
import { projectFile } from '../project-root.js';
import { commandTask } from '../tasks/command.js';
import { taskModules } from '../tasks/registry.js';
import type { AnyTaskModule, Job } from '../tasks/task.js';

// A built-in sequence (playbooks/*.yml): phases of task modules, each phase
// either across the whole fleet at once or in the strategy's serial batches.

export interface Phase {
  readonly name: string;
  readonly batches: 'fleet' | 'serial';
  readonly tasks: readonly AnyTaskModule[];
}

export interface Pipeline {
  readonly name: string;
  readonly phases: readonly Phase[];
}

export class PipelineDefinitionError extends Error {
  override name = 'PipelineDefinitionError';
}

export function parsePipeline(text: string, source: string): Pipeline {
  const doc = parse(text) as { name?: unknown; phases?: unknown };
  const bad = (what: string): never => {
    throw new PipelineDefinitionError(`${source}: ${what}`);
  };
  if (typeof doc?.name !== 'string') bad('needs a name');
  if (!Array.isArray(doc.phases) || doc.phases.length === 0) bad('needs phases');
  const phases = (doc.phases as Array<Record<string, unknown>>).map((phase, index): Phase => {
    const where = `phases[${index}]`;
    if (typeof phase.name !== 'string') bad(`${where} needs a name`);
    if (phase.batches !== 'fleet' && phase.batches !== 'serial')
      bad(`${where}.batches must be fleet or serial`);
    if (!Array.isArray(phase.tasks)) bad(`${where}.tasks must be a list`);
    const tasks = (phase.tasks as unknown[]).map((name) => {
      const module = taskModules[name as keyof typeof taskModules];
      if (!module) return bad(`${where}: unknown task ${String(name)}`);
      return module;
    });
    return { name: phase.name as string, batches: phase.batches as Phase['batches'], tasks };
  });
  return { name: doc.name as string, phases };
}

/**
 * `memplay apply` with the playbook's own `tasks:` (validated: every built-in
 * task once, in order). Steps up to and including `build` form the prepare
 * phase, the rest the rolling phase — as in playbooks/upgrade.yml.
 */
export function pipelineFromSteps(steps: readonly TaskStep[]): Pipeline {
  const buildAt = steps.findIndex((step) => step.kind === 'builtin' && step.name === 'build');
  const phaseOf = (index: number) => (index <= buildAt ? 'prepare' : 'rolling');
  const tasks = steps.map((step, index): AnyTaskModule => {
    if (step.kind === 'command') return commandTask(step, phaseOf(index));
    const module = taskModules[step.name as keyof typeof taskModules];
    if (!module) throw new PipelineDefinitionError(`tasks[${index}]: unknown task ${step.name}`);
    return module;
  });
  return {
    name: "upgrade (the playbook's tasks)",
    phases: [
      { name: 'prepare', batches: 'fleet', tasks: tasks.slice(0, buildAt + 1) },
      { name: 'rolling', batches: 'serial', tasks: tasks.slice(buildAt + 1) },
    ],
  };
}

export async function loadBuiltinPipeline(name: Job['kind']): Promise<Pipeline> {
  const path = projectFile(`playbooks/${name}.yml`);
  return parsePipeline(await readFile(path, 'utf8'), path);
}

/** The step list `job` runs: apply's own `tasks:` when the playbook has them, else the built-in one. */
export async function pipelineFor(job: Job, playbook: Playbook): Promise<Pipeline> {
  return job.kind === 'upgrade' && playbook.tasks
    ? pipelineFromSteps(playbook.tasks)
    : await loadBuiltinPipeline(job.kind);
}
