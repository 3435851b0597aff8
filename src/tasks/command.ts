import { TaskFailed } from '../errors.js';
import type { HostFacts } from '../facts/host-facts.js';
import type { TaskStep } from '../playbook/types.js';
import { type ShellCommand, sh } from '../transport/quote.js';
import { formatDuration } from '../units.js';
import type { Outcome, Plan, TaskContext, TaskModule } from './task.js';
import { changed, ok } from './task.js';

// A playbook's own step (`tasks: [… { command: drain, argv: [...] } …]`): a
// program run on the host over its SSH connection, between the built-in tasks.
// The host's facts reach it as environment variables, set by `env` with every
// name=value and argument quoted by `sh` — never pasted into command text, so a
// version or host name cannot change what runs.

type CommandStep = Extract<TaskStep, { kind: 'command' }>;

/** What the command sees in its environment; built from the facts the step plans against. */
export function commandEnvironment(
  ctx: TaskContext,
  step: CommandStep,
  phase: string,
  facts: HostFacts,
): Record<string, string> {
  return {
    MEMPLAY_HOST: ctx.host.name,
    MEMPLAY_ADDRESS: ctx.host.address,
    MEMPLAY_PORT: String(ctx.host.memcached.port),
    MEMPLAY_PREFIX: ctx.host.memcached.prefix,
    MEMPLAY_TARGET_VERSION: ctx.target.version,
    MEMPLAY_RUNNING_VERSION: facts.runningVersion ?? '',
    MEMPLAY_VERSION_BEFORE: ctx.run.startFacts?.runningVersion ?? '',
    MEMPLAY_PHASE: phase,
    MEMPLAY_STEP: step.name,
  };
}

/** `env -- NAME=value … program args…`: `--` so no value is read as an option of env. */
export function commandLine(environment: Record<string, string>, argv: readonly string[]): ShellCommand {
  const assignments = Object.entries(environment).map(([name, value]) => `${name}=${value}`);
  return sh`env -- ${assignments} ${argv}`;
}

/** Whether the run changes this host: it did not serve the target from `current` when it connected. */
function upgrading(ctx: TaskContext): boolean {
  const start = ctx.run.startFacts;
  if (!start) return true;
  return !(start.runningVersion === ctx.target.version && start.currentLink === ctx.target.version);
}

const outputTail = (text: string) => text.trim().split('\n').slice(-3).join(' | ').slice(0, 500);

export function commandTask(step: CommandStep, phase: string): TaskModule {
  return {
    name: step.name,

    async plan(ctx, facts): Promise<Plan> {
      if (step.when === 'upgrading' && !upgrading(ctx)) {
        return ok(`not run: ${ctx.host.name} already ran ${ctx.target.version} (when: upgrading)`, facts);
      }
      return changed(
        `run ${commandLine(commandEnvironment(ctx, step, phase, facts), step.argv).text}`,
        facts,
      );
    },

    async apply(ctx, plan): Promise<Outcome> {
      const command = commandLine(commandEnvironment(ctx, step, phase, plan.facts), step.argv);
      ctx.progress(`run ${step.argv.join(' ')}`);
      const started = Date.now();
      const result = await ctx.transport.run(command);
      const took = formatDuration(Date.now() - started);
      if (result.code !== 0) {
        const output = outputTail(result.stderr || result.stdout);
        const where =
          ctx.run.swap.stoppedAt === undefined
            ? 'nothing was stopped, the old instance keeps serving'
            : 'the host is rolled back to the build it ran before';
        throw new TaskFailed(
          ctx.host.name,
          step.name,
          `${step.argv[0]} exited ${result.code} after ${took}${output ? `: ${output}` : ''} — ${where}; fix the command or what it talks to, then run apply again`,
        );
      }
      const output = outputTail(result.stdout);
      return {
        status: 'changed',
        detail: `${step.argv.join(' ')} exited 0 in ${took}${output ? `: ${output}` : ''}`,
      };
    },
  };
}
