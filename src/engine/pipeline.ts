import { readFile } from 'node:fs/promises';
import { isTaskName } from '../playbook/task-order.js';
import type { Playbook, TaskStep } from '../playbook/types.js';
import { projectFile } from '../project-root.js';
import { commandTask } from '../tasks/command.js';
import { taskModules } from '../tasks/registry.js';
import type { AnyTaskModule, Job } from '../tasks/task.js';
import { parsePipelineDefinition } from './pipeline-file.js';

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

export { PipelineDefinitionError } from './pipeline-file.js';

/** A built-in sequence's text (`source` names its file in errors), checked, with its task modules. */
export function parsePipeline(text: string, source: string): Pipeline {
  const definition = parsePipelineDefinition(text, source);
  return {
    name: definition.name,
    phases: definition.phases.map(
      (phase): Phase => ({
        name: phase.name,
        batches: phase.batches,
        tasks: phase.tasks.map((name) => moduleOf(name)),
      }),
    ),
  };
}

function moduleOf(name: string): AnyTaskModule {
  // Both the sequence schema and the playbook's task list admit only built-in names.
  if (!isTaskName(name)) throw new Error(`no built-in task is named ${name}`);
  return taskModules[name];
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
    return moduleOf(step.name);
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
