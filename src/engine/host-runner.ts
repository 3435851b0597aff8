import { errorMessage, TaskFailed } from '../errors.js';
import type { HostFacts } from '../facts/host-facts.js';
import type { HostConfig } from '../playbook/types.js';
import type { AnyTaskModule, BuildPeer, EventTaskName, Plan, TaskContext } from '../tasks/task.js';
import { recordDecision, TaskFailedWithFigures } from '../tasks/task.js';
import { pruneBackups } from './backup-pruning.js';
import { ensureConnected } from './connect-host.js';
import { lostConnectionDetail } from './connection-lost.js';
import { releaseHost } from './host-release.js';
import { wasTakenDown } from './host-run-view.js';
import type { ConnectedHost } from './host-state.js';
import type { Phase } from './pipeline.js';
import { planDrift } from './plan-drift.js';
import { throttledProgress } from './progress-throttle.js';
import type { ContextBase } from './rollback-after.js';
import { rollBackAfter } from './rollback-after.js';
import type { RunContext } from './run-context.js';

/**
 * One host's part of a phase: its tasks in order, then (after its last phase)
 * the pruning of its backups. `laterTasks` are the later phases' tasks, which
 * a failure here skips too.
 */
export async function runHostPhase(
  ctx: RunContext,
  host: HostConfig,
  phase: Phase,
  laterTasks: readonly AnyTaskModule[],
  peers: readonly BuildPeer[],
): Promise<void> {
  try {
    await runHostTasks(ctx, host, phase, laterTasks, peers);
    if (laterTasks.length === 0) await pruneBackups(ctx, host);
  } finally {
    // Whatever this host was to hand to others in this phase and did not, it never will.
    ctx.shared.builds.hostFinished(host.name);
    // Nothing later in the run needs this host (its last phase, or it failed, was
    // lost or stopped): its connection goes now, not when the whole fleet is done.
    if (laterTasks.length === 0 || !ctx.fleet.runnable(host.name)) await releaseHost(ctx, host.name);
  }
}

async function runHostTasks(
  ctx: RunContext,
  host: HostConfig,
  phase: Phase,
  laterTasks: readonly AnyTaskModule[],
  peers: readonly BuildPeer[],
): Promise<void> {
  const state = await ensureConnected(ctx, host);
  if (state.kind !== 'connected') return;
  const refusal = ctx.deps.lockRefusal(host, state.hostLock);
  if (refusal !== undefined) {
    // Another run works on this host: not one of this run's tasks touches it.
    const [first, ...rest] = [...phase.tasks, ...laterTasks];
    ctx.fleet.fail(host.name);
    if (first) ctx.recap.task(host.name, first, 'failed', refusal, Date.now());
    ctx.recap.skip(host.name, rest, 'the host is busy');
    return;
  }
  const base: ContextBase = {
    // With memcached.args carried over from a package's running instance (connect-host.ts).
    host: state.host,
    transport: state.transport,
    target: state.target,
    playbook: ctx.playbook,
    shared: ctx.shared,
    run: state.run,
    peers,
    ...(ctx.playbook.strategy.instancesTogether && { batchSiblings: ctx.instances.batchSiblings(host) }),
    job: ctx.options.job,
    signal: ctx.options.signal,
  };
  for (const [index, task] of phase.tasks.entries()) {
    const rest = [...phase.tasks.slice(index + 1), ...laterTasks];
    // Interrupted: a host swap has taken down in this run still gets its
    // restore and verify, or it would be left serving a cold cache.
    if (ctx.options.signal.aborted && !wasTakenDown(state.run)) {
      ctx.recap.skip(host.name, [task, ...rest], 'interrupted');
      ctx.fleet.stop(host.name);
      return;
    }
    const went = await runTask(ctx, state, base, task);
    if (went === 'ok') continue;
    ctx.recap.skip(host.name, rest, went === 'lost' ? 'ssh connection lost' : `${task.name} failed`);
    return;
  }
}

/** One task on one host: plan, apply (not in --check), record. What became of the host. */
async function runTask(
  ctx: RunContext,
  state: ConnectedHost,
  base: ContextBase,
  task: AnyTaskModule,
): Promise<'ok' | 'failed' | 'lost'> {
  const { check, emit, recap } = ctx;
  const host = base.host.name;
  const startedAt = Date.now();
  emit({ event: 'task-start', host, task: task.name });
  const progress = throttledProgress(emit, host, task.name);
  const taskCtx: TaskContext = {
    ...base,
    progress: progress.report,
    reportGate: (report) => emit({ event: 'gate', host, task: task.name, check, ...report }),
  };
  try {
    const plan = await task.plan(taskCtx, state.facts);
    progress.flush();
    // The plan's decision is what later plans read (in --check, all they have to go on).
    recordDecision(state.run, task.name, plan);
    // A plan that only proves (verify) changes nothing, but apply runs its checks on the host.
    const applies = plan.status === 'changed' || (plan.status === 'ok' && plan.proves === true);
    if (check || !applies) {
      state.facts = plan.facts;
      const actions = check && plan.status === 'changed' ? (plan.actions ?? []) : undefined;
      recap.task(host, task, plan.status, plan.detail, startedAt, actions ? { actions } : {});
      return 'ok';
    }
    const outcome = await task.apply(taskCtx, plan).finally(progress.flush);
    const before = state.facts;
    // What the host is now, not what the plan predicted: later tasks plan against reality.
    // A plan that only proved something changed nothing, and a task that
    // leavesFactsAlone changed nothing the facts describe: the facts stand.
    if (plan.status === 'changed' && task.leavesFactsAlone) state.facts = plan.facts;
    else if (plan.status === 'changed') {
      state.facts = await ctx.deps.gatherFacts(base.host, state.transport, {
        platform: state.facts.platform,
        packageInstall: state.facts.packageInstall,
      });
    }
    recap.task(
      host,
      task,
      outcome.status,
      outcome.detail,
      startedAt,
      outcome.figures ? { figures: outcome.figures } : {},
    );
    reportDrift(ctx, host, task.name, before, plan, state.facts);
    return 'ok';
  } catch (error) {
    progress.flush();
    if (await ctx.deps.connectionLost(state.transport, error)) {
      recap.markUnreachable(host);
      ctx.fleet.unreachable(host);
      const detail = lostConnectionDetail({
        job: ctx.options.job,
        host,
        task: task.name,
        target: state.target.version,
        port: base.host.memcached.port,
        lastSeenVersion: state.facts.runningVersion,
        run: state.run,
      });
      // Nothing can be rolled back over a dead connection; the message says what the re-run does.
      recap.task(host, task, 'failed', detail, startedAt);
      return 'lost';
    }
    const detail = error instanceof TaskFailed ? error.detail : errorMessage(error);
    ctx.fleet.fail(host);
    recap.task(
      host,
      task,
      'failed',
      detail,
      startedAt,
      error instanceof TaskFailedWithFigures ? { figures: error.figures } : {},
    );
    if (ctx.deps.needsRollback(ctx.options.job, state.run)) await rollBackAfter(ctx, base, task.name);
    return 'failed';
  }
}

/** Apply left the host other than its plan predicted: a warning, never a failure. */
function reportDrift(
  ctx: RunContext,
  host: string,
  task: EventTaskName,
  before: HostFacts,
  plan: Plan<unknown>,
  found: HostFacts,
): void {
  for (const drift of planDrift(before, plan.facts, found)) {
    ctx.options.journal?.append({ entry: 'plan-drift', host, task, ...drift });
    ctx.emit({ event: 'plan-drift', host, task, ...drift });
  }
}
