import { errorMessage } from '../errors.js';
import type { RollbackOutcome } from '../tasks/rollback.js';
import type { TaskContext } from '../tasks/task.js';
import { throttledProgress } from './progress-throttle.js';
import type { RunContext } from './run-context.js';

/** A host's task context without the task-specific reporting (progress, gates). */
export type ContextBase = Omit<TaskContext, 'progress' | 'reportGate'>;

/** The old build back, with its data, after `failedTask` failed on a host swap had taken down. */
export async function rollBackAfter(ctx: RunContext, base: ContextBase, failedTask: string): Promise<void> {
  const { emit, check } = ctx;
  const host = base.host.name;
  const startedAt = Date.now();
  emit({ event: 'task-start', host, task: 'rollback' });
  const progress = throttledProgress(emit, host, 'rollback');
  const outcome = await ctx.deps
    .rollBack({
      ...base,
      progress: progress.report,
      reportGate: (report) => emit({ event: 'gate', host, task: 'rollback', check, ...report }),
    })
    .catch(
      (error: unknown): RollbackOutcome => ({
        status: 'failed',
        detail: `rollback broke off: ${errorMessage(error)}`,
      }),
    );
  progress.flush();
  ctx.recap.task(
    host,
    { name: 'rollback' },
    outcome.status,
    `${outcome.detail} (after ${failedTask} failed)`,
    startedAt,
    outcome.figures ? { figures: outcome.figures } : {},
  );
}
