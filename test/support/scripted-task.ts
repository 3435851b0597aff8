import { TaskFailed } from '../../src/errors.js';
import type { HostFacts } from '../../src/facts/host-facts.js';
import type { Outcome, Plan, PlanAction, TaskContext, TaskModule } from '../../src/tasks/task.js';

// Task modules that do what a test says: a plan (changed, ok, or a throw) from
// the facts they are given, and an apply result or failure, per host. Every
// call is recorded, so a test asserts what the engine asked of each task.

export interface ScriptedStep {
  /** The plan's status; `changed` by default. */
  readonly status?: 'ok' | 'changed' | 'skipped';
  /** The facts the plan predicts, from the facts it was given; unchanged by default. */
  readonly predict?: (facts: HostFacts) => HostFacts;
  readonly actions?: readonly PlanAction[];
  /** The plan fails (as a real plan fails on a host it refuses). */
  readonly planFails?: string;
  /** Apply fails with this detail. */
  readonly applyFails?: string;
  /** What apply does besides reporting: e.g. marks the host stopped, as swap does. */
  readonly effect?: (ctx: TaskContext) => void | Promise<void>;
}

export interface TaskCall {
  readonly host: string;
  readonly task: string;
  readonly step: 'plan' | 'apply';
}

/** One log of calls shared by every scripted task of a test, in the order the engine made them. */
export class TaskLog {
  readonly calls: TaskCall[] = [];

  of(step: TaskCall['step']): string[] {
    return this.calls.filter((c) => c.step === step).map((c) => `${c.host} ${c.task}`);
  }
}

/** A task named `name` that follows `script(host)` on each host (the default step when undefined). */
export function scriptedTask(
  name: string,
  log: TaskLog,
  script: (host: string) => ScriptedStep | undefined = () => undefined,
): TaskModule {
  return {
    name,
    async plan(ctx, facts): Promise<Plan> {
      log.calls.push({ host: ctx.host.name, task: name, step: 'plan' });
      const step = script(ctx.host.name) ?? {};
      if (step.planFails) throw new TaskFailed(ctx.host.name, name, step.planFails);
      const predicted = step.predict ? step.predict(facts) : facts;
      const status = step.status ?? 'changed';
      const detail = `${name} planned`;
      if (status === 'changed') {
        return { status, detail, facts: predicted, ...(step.actions ? { actions: step.actions } : {}) };
      }
      return { status, detail, facts: predicted };
    },
    async apply(ctx, _plan): Promise<Outcome> {
      log.calls.push({ host: ctx.host.name, task: name, step: 'apply' });
      const step = script(ctx.host.name) ?? {};
      await step.effect?.(ctx);
      if (step.applyFails) throw new TaskFailed(ctx.host.name, name, step.applyFails);
      return { status: 'changed', detail: `${name} done` };
    },
  };
}
