import { errorMessage, TaskFailed, unreachableReport } from '../errors.js';
import { gatherFacts, type HostFacts } from '../facts/host-facts.js';
import type { HostConfig, Playbook, Target } from '../playbook/types.js';
import type { EventSink, HostRecap, SwapPath, TaskStatus } from '../report/events.js';
import { bytesOf, type PrunePlan, planBackupPrune, removePrunedBackups } from '../tasks/backup-prune.js';
import { retentionText } from '../tasks/backup-retention.js';
import { BuildExchange } from '../tasks/build-sharing.js';
import { swapGuarantee } from '../tasks/guarantee.js';
import { needsRollback, type RollbackOutcome, rollBack } from '../tasks/rollback.js';
import { localTarballOnce } from '../tasks/source-tarball.js';
import type {
  AnyTaskModule,
  BuildPeer,
  EventTaskName,
  HostRun,
  Job,
  PlanAction,
  SharedWork,
  TaskContext,
  TaskFigures,
} from '../tasks/task.js';
import { backupInUse, recordDecision, TaskFailedWithFigures } from '../tasks/task.js';
import type { Transport } from '../transport/transport.js';
import {
  exceedsFailureBudget,
  exceedsMaxFail,
  failureBudget,
  forEachLimited,
  rollingBatches,
} from './batches.js';
import { betweenBatches, type ConfirmBatch } from './between-batches.js';
import { connectionLost, lostConnectionDetail } from './connection-lost.js';
import { lockRefusal, peekHostLock, takeHostLock, thisRun } from './host-lock.js';
import type { Journal } from './journal.js';
import { OrderedEmission } from './ordered-emission.js';
import type { Phase, Pipeline } from './pipeline.js';
import { type HostPlanResult, summarizePlans } from './plan-summary.js';
import { throttledProgress } from './progress-throttle.js';

export interface RunOptions {
  readonly job: Job;
  readonly check: boolean;
  readonly forks: number;
  readonly connect: (host: HostConfig) => Promise<Transport>;
  readonly emit: EventSink;
  /** Ctrl-C: running steps finish, nothing new starts. */
  readonly signal: AbortSignal;
  /** Where task results are recorded for the operator (not in --check). */
  readonly journal?: Journal;
  /** The run log's folder, for the recap to name (the caller writes it). */
  readonly runLog?: string;
  /** memplay's own version, for the `start` event. */
  readonly memplayVersion: string;
  /** strategy.confirm_between_batches: how the operator is asked (see between-batches.ts). */
  readonly confirmBatch?: ConfirmBatch;
  /** --yes: strategy.confirm_between_batches' questions are answered yes without asking. */
  readonly assumeYes?: boolean;
}

export interface RunResult {
  readonly recap: Readonly<Record<string, HostRecap>>;
  readonly interrupted: boolean;
}

type HostState =
  | { readonly kind: 'pending' }
  | {
      readonly kind: 'connected';
      readonly transport: Transport;
      facts: HostFacts;
      readonly run: HostRun;
      /** The version this host is taken to: the playbook's, or for `rollback` its previous build. */
      readonly target: Target;
    }
  | { readonly kind: 'failed' }
  | { readonly kind: 'unreachable' }
  /** Never started: the run was interrupted, a failure limit stopped it, or the operator said no. */
  | { readonly kind: 'stopped' };

/** The swap path and out-of-service time a host's swap and restore events carry. */
function swapFields(run: HostRun): {
  swap_mode?: SwapPath;
  swap_reason?: string;
  swap_guarantee?: string;
  out_of_service_ms?: number;
} {
  const path = run.swapTaken ?? run.decisions.swap?.choice;
  return {
    ...(path
      ? { swap_mode: path.path, swap_reason: path.reason, swap_guarantee: swapGuarantee(path.path) }
      : {}),
    ...(run.outOfServiceMs !== undefined ? { out_of_service_ms: run.outOfServiceMs } : {}),
  };
}

/**
 * Where a host goes. Fixed when the host connects: swap moves `previous` as it
 * goes, and a rollback must keep aiming at the build it found there.
 */
function targetFor(job: Job, target: Target, facts: HostFacts): Target {
  if (job.kind !== 'rollback' || facts.previousLink === null) return target;
  return { ...target, version: facts.previousLink };
}

/**
 * Runs a pipeline over the selected hosts. Phases run in order; a `fleet` phase
 * runs every host at once (up to forks), a `serial` phase in the strategy's
 * batches with max_fail_percentage checked after each. In check mode only plans
 * run, each against the facts the previous plan predicts, and serial phases run
 * as one batch since nothing is taken out of service.
 */
export async function runPipeline(
  playbook: Playbook,
  hosts: readonly HostConfig[],
  pipeline: Pipeline,
  options: RunOptions,
): Promise<RunResult> {
  const { check } = options;
  // --check shows a rolling phase batch by batch, as apply runs it (src/engine/ordered-emission.ts).
  const ordered = new OrderedEmission(options.emit);
  const { emit } = ordered;
  const allTasks = pipeline.phases.flatMap((phase) => phase.tasks);
  const recap: Record<string, HostRecap> = {};
  const states = new Map<string, HostState>();
  for (const host of hosts) {
    recap[host.name] = { ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: false };
    states.set(host.name, { kind: 'pending' });
  }
  const shared: SharedWork = {
    localTarball: localTarballOnce(playbook.target),
    builds: new BuildExchange(),
  };
  // Once set, no further batch starts and its hosts are skipped with this detail.
  let stopped: string | undefined;
  // The operator answered no between two batches: the run ends as if interrupted.
  let declined = false;
  // Written into each host's lock: who holds it, since when.
  const lockHolder = thisRun();
  // Every connection opened, whatever state its host ends in: all are closed at the end.
  const opened: Extract<HostState, { kind: 'connected' }>[] = [];

  /** --check: every host's planned actions, in task order, for the fleet summary. */
  const plannedActions = new Map<string, PlanAction[]>(hosts.map((h) => [h.name, []]));
  /** Each connected host's run state, kept whatever state the host ends in (for the journal). */
  const runs = new Map<string, HostRun>();
  options.journal?.append({
    entry: 'start',
    job: options.job.kind,
    playbook: playbook.file,
    hosts: hosts.map((h) => h.name),
  });
  emit({
    event: 'start',
    playbook: playbook.file,
    name: playbook.name,
    check,
    hosts: hosts.map((h) => h.name),
    tasks: allTasks.map((t) => t.name),
    job: options.job.kind,
    memplay_version: options.memplayVersion,
    ...(options.job.kind === 'rollback'
      ? { target_version: null, rollback_from: playbook.target.version }
      : { target_version: playbook.target.version }),
    log: options.runLog ?? null,
    journal: options.journal?.path ?? null,
  });

  // --check's summary names what each failing host would fail at.
  const firstFailures = new Map<string, { readonly task: string; readonly detail: string }>();
  const record = (
    host: string,
    task: { readonly name: EventTaskName },
    status: TaskStatus,
    detail: string,
    startedAt: number,
    more: { readonly actions?: readonly PlanAction[]; readonly figures?: TaskFigures } = {},
  ) => {
    const { actions, figures } = more;
    const counts = recap[host] as HostRecap;
    counts[status] += 1;
    if (status === 'failed' && !firstFailures.has(host)) firstFailures.set(host, { task: task.name, detail });
    const run = runs.get(host);
    const backupFile = run ? backupInUse(run)?.path : undefined;
    options.journal?.append({
      entry: 'task',
      host,
      task: task.name,
      status,
      detail,
      ...(backupFile ? { backup: backupFile } : {}),
    });
    emit({
      event: 'task',
      host,
      task: task.name,
      status,
      detail,
      check,
      duration_ms: Date.now() - startedAt,
      ...(actions ? { actions } : {}),
      ...(run && (task.name === 'swap' || task.name === 'restore') ? swapFields(run) : {}),
      ...figures,
      ...(task.name === 'version_check' ? hostVersions(host) : {}),
    });
  };

  /** Where the host is taken and what it runs, once it is connected. */
  const hostVersions = (host: string) => {
    const state = states.get(host);
    return state?.kind === 'connected'
      ? { target_version: state.target.version, running_version: state.facts.runningVersion }
      : {};
  };

  const skipRemaining = (host: string, tasks: readonly AnyTaskModule[], detail: string) => {
    for (const task of tasks) record(host, task, 'skipped', detail, Date.now());
  };

  const failedHostCount = () =>
    [...states.values()].filter((s) => s.kind === 'failed' || s.kind === 'unreachable').length;

  /** The strategy's failure limit the run's failed hosts are over, if any, in words. */
  const failureLimitExceeded = (): { readonly limit: string; readonly above: string } | undefined => {
    const failed = failedHostCount();
    const { maxFailPercentage, maxFailedHosts } = playbook.strategy;
    if (exceedsMaxFail(failed, hosts.length, maxFailPercentage)) {
      return { limit: 'max_fail_percentage', above: `above max_fail_percentage ${maxFailPercentage}%` };
    }
    if (maxFailedHosts && exceedsFailureBudget(failed, hosts.length, maxFailedHosts)) {
      const budget =
        maxFailedHosts.kind === 'count'
          ? `${maxFailedHosts.count}`
          : `${maxFailedHosts.percent}% (${failureBudget(hosts.length, maxFailedHosts)} of ${hosts.length} hosts)`;
      return { limit: 'max_failed_hosts', above: `above max_failed_hosts ${budget}` };
    }
    return undefined;
  };

  async function ensureConnected(host: HostConfig): Promise<HostState> {
    const state = states.get(host.name) as HostState;
    if (state.kind !== 'pending') return state;
    try {
      const transport = await options.connect(host);
      // A host whose facts cannot be read (memcached refusing the credentials) is
      // never worked on: its connection is closed here, or it would keep the run alive.
      const facts = await gatherFacts(host, transport).catch(async (error: unknown) => {
        await transport.close().catch(() => {});
        throw error;
      });
      const target = targetFor(options.job, playbook.target, facts);
      const hostLock = check
        ? await peekHostLock(host, transport)
        : await takeHostLock(host, transport, lockHolder);
      const connected: HostState = {
        kind: 'connected',
        transport,
        facts,
        run: { startFacts: facts, hostLock, decisions: {} },
        target,
      };
      runs.set(host.name, connected.run);
      opened.push(connected);
      states.set(host.name, connected);
      return connected;
    } catch (error) {
      const unreachable: HostState = { kind: 'unreachable' };
      states.set(host.name, unreachable);
      (recap[host.name] as HostRecap).unreachable = true;
      emit({ event: 'unreachable', host: host.name, ...unreachableReport(error) });
      return unreachable;
    }
  }

  /** The old build back, with its data, after `failedTask` failed on a host swap had taken down. */
  async function rollBackAfter(
    host: HostConfig,
    failedTask: string,
    ctxBase: Omit<TaskContext, 'progress'>,
  ): Promise<void> {
    const startedAt = Date.now();
    emit({ event: 'task-start', host: host.name, task: 'rollback' });
    const progress = throttledProgress(emit, host.name, 'rollback');
    const outcome = await rollBack({ ...ctxBase, progress: progress.report }).catch(
      (error: unknown): RollbackOutcome => ({
        status: 'failed',
        detail: `rollback broke off: ${errorMessage(error)}`,
      }),
    );
    progress.flush();
    record(
      host.name,
      { name: 'rollback' },
      outcome.status,
      `${outcome.detail} (after ${failedTask} failed)`,
      startedAt,
      outcome.figures ? { figures: outcome.figures } : {},
    );
  }

  async function runHostPhase(
    host: HostConfig,
    phase: Phase,
    laterTasks: readonly AnyTaskModule[],
    peers: readonly BuildPeer[],
  ): Promise<void> {
    try {
      await runHostTasks(host, phase, laterTasks, peers);
      if (laterTasks.length === 0) await pruneBackups(host);
    } finally {
      // Whatever this host was to hand to others in this phase and did not, it never will.
      shared.builds.hostFinished(host.name);
    }
  }

  /**
   * A host whose run succeeded: its backups beyond backup.keep go (--check: are
   * named). Only controller files change, so a problem here is reported and
   * never fails the host. `memplay restore` takes no backup and prunes none.
   */
  async function pruneBackups(host: HostConfig): Promise<void> {
    const state = states.get(host.name);
    const counts = recap[host.name] as HostRecap;
    if (options.job.kind === 'restore' || state?.kind !== 'connected' || counts.failed > 0) return;
    const { run } = state;
    const inUse = new Set(
      [backupInUse(run)?.path, run.restored?.from.path].filter((path): path is string => path !== undefined),
    );
    const keep = playbook.backup.keep;
    const report = (plan: PrunePlan | undefined, freedBytes: number, problems: readonly string[]) => {
      const pruned = plan?.prune ?? [];
      if (pruned.length === 0 && problems.length === 0) return;
      if (pruned.length > 0) {
        counts.pruned_backups = pruned.length;
        counts.pruned_bytes = freedBytes;
      }
      emit({
        event: 'backups-pruned',
        host: host.name,
        check,
        folder: plan?.folder ?? playbook.backup.dir,
        keep: retentionText(keep),
        pruned: pruned.map((backup) => ({
          file: backup.file,
          created_at: backup.createdAtMs === null ? null : new Date(backup.createdAtMs).toISOString(),
          bytes: bytesOf(backup),
          reason: backup.reason,
        })),
        freed_bytes: freedBytes,
        kept: plan?.kept ?? 0,
        ...(problems.length > 0 ? { problems } : {}),
      });
    };
    let plan: PrunePlan;
    try {
      plan = await planBackupPrune(playbook.backup.dir, host.name, keep, {
        nowMs: Date.now(),
        inUse,
        upcoming: check && run.decisions.backup?.kind === 'dump' && run.backupFile === undefined,
      });
    } catch (error) {
      report(undefined, 0, [`cannot read the backup folder: ${(error as Error).message}`]);
      return;
    }
    if (check) {
      report(
        plan,
        plan.prune.reduce((sum, backup) => sum + bytesOf(backup), 0),
        [],
      );
      return;
    }
    const result = await removePrunedBackups(plan);
    const notRemoved = plan.prune.length - result.removed.length;
    report(
      { ...plan, kept: plan.kept + notRemoved, prune: result.removed },
      result.freedBytes,
      result.problems,
    );
    if (result.removed.length > 0 || result.problems.length > 0) {
      options.journal?.append({
        entry: 'prune',
        host: host.name,
        removed: result.removed.flatMap((backup) => backup.files.map((file) => file.path)),
        freed_bytes: result.freedBytes,
        ...(result.problems.length > 0 ? { problems: result.problems } : {}),
      });
    }
  }

  async function runHostTasks(
    host: HostConfig,
    phase: Phase,
    laterTasks: readonly AnyTaskModule[],
    peers: readonly BuildPeer[],
  ): Promise<void> {
    const state = await ensureConnected(host);
    if (state.kind !== 'connected') return;
    const refusal = lockRefusal(host, state.run.hostLock);
    if (refusal !== undefined) {
      // Another run works on this host: not one of this run's tasks touches it.
      const [first, ...rest] = [...phase.tasks, ...laterTasks];
      states.set(host.name, { kind: 'failed' });
      if (first) record(host.name, first, 'failed', refusal, Date.now());
      skipRemaining(host.name, rest, 'the host is busy');
      return;
    }
    const ctxBase = {
      host,
      transport: state.transport,
      target: state.target,
      playbook,
      shared,
      run: state.run,
      peers,
      job: options.job,
      signal: options.signal,
    };
    for (const [index, task] of phase.tasks.entries()) {
      // Interrupted: a host swap has taken down in this run still gets its
      // restore and verify, or it would be left serving a cold cache.
      if (options.signal.aborted && state.run.stoppedAt === undefined) {
        skipRemaining(host.name, [...phase.tasks.slice(index), ...laterTasks], 'interrupted');
        states.set(host.name, { kind: 'stopped' });
        return;
      }
      const startedAt = Date.now();
      emit({ event: 'task-start', host: host.name, task: task.name });
      const progress = throttledProgress(emit, host.name, task.name);
      const ctx: TaskContext = {
        ...ctxBase,
        progress: progress.report,
        reportGate: (report) => emit({ event: 'gate', host: host.name, task: task.name, check, ...report }),
      };
      try {
        const plan = await task.plan(ctx, state.facts);
        progress.flush();
        recordDecision(state.run, task.name, plan);
        const applies = plan.status === 'changed' || (plan.status === 'ok' && plan.proves === true);
        if (check || !applies) {
          state.facts = plan.facts;
          const actions = check && plan.status === 'changed' ? (plan.actions ?? []) : undefined;
          if (actions) plannedActions.get(host.name)?.push(...actions);
          record(host.name, task, plan.status, plan.detail, startedAt, actions ? { actions } : {});
          continue;
        }
        const outcome = await task.apply(ctx, plan).finally(progress.flush);
        // What the host is now, not what the plan predicted: later tasks plan against reality.
        // A plan that only proves (verify) changed nothing: the facts stand.
        if (plan.status === 'changed')
          state.facts = await gatherFacts(host, state.transport, state.facts.platform);
        record(
          host.name,
          task,
          outcome.status,
          outcome.detail,
          startedAt,
          outcome.figures ? { figures: outcome.figures } : {},
        );
      } catch (error) {
        progress.flush();
        if (await connectionLost(state.transport, error)) {
          (recap[host.name] as HostRecap).unreachable = true;
          states.set(host.name, { kind: 'unreachable' });
          const detail = lostConnectionDetail({
            job: options.job,
            host: host.name,
            task: task.name,
            target: state.target.version,
            port: host.memcached.port,
            lastSeenVersion: state.facts.runningVersion,
            run: state.run,
          });
          record(host.name, task, 'failed', detail, startedAt);
          // Nothing can be rolled back over a dead connection; the message says what the re-run does.
          skipRemaining(host.name, [...phase.tasks.slice(index + 1), ...laterTasks], 'ssh connection lost');
          return;
        }
        const detail = error instanceof TaskFailed ? error.detail : errorMessage(error);
        states.set(host.name, { kind: 'failed' });
        record(
          host.name,
          task,
          'failed',
          detail,
          startedAt,
          error instanceof TaskFailedWithFigures ? { figures: error.figures } : {},
        );
        if (needsRollback(options.job, state.run)) {
          await rollBackAfter(host, task.name, {
            ...ctxBase,
            reportGate: (report) =>
              emit({ event: 'gate', host: host.name, task: 'rollback', check, ...report }),
          });
        }
        skipRemaining(host.name, [...phase.tasks.slice(index + 1), ...laterTasks], `${task.name} failed`);
        return;
      }
    }
  }

  // Controller-side refusals (an unsafe backup folder) come before any host is
  // connected to: a host refused here is never touched.
  for (const host of hosts) {
    for (const [index, task] of allTasks.entries()) {
      const problem = await task.preflight?.({ job: options.job, host, playbook });
      if (problem === undefined) continue;
      states.set(host.name, { kind: 'failed' });
      record(host.name, task, 'failed', problem, Date.now());
      skipRemaining(
        host.name,
        allTasks.filter((_, other) => other !== index),
        `${task.name} refused before the run`,
      );
      break;
    }
  }
  const refusedTooMany = check ? undefined : failureLimitExceeded();
  if (refusedTooMany) {
    emit({
      event: 'aborted',
      reason: `${failedHostCount()} of ${hosts.length} hosts refused before the run, ${refusedTooMany.above}; no host is changed`,
    });
    stopped = `not started: ${refusedTooMany.limit} exceeded`;
  }

  try {
    for (const [phaseIndex, phase] of pipeline.phases.entries()) {
      const laterTasks = pipeline.phases.slice(phaseIndex + 1).flatMap((p) => p.tasks);
      const phaseTasks = phase.tasks;
      const onTarget = (host: HostConfig) => {
        const state = states.get(host.name);
        return (
          state?.kind === 'connected' &&
          state.facts.runningVersion === state.target.version &&
          state.facts.currentLink === state.target.version
        );
      };
      const batches =
        phase.batches === 'fleet' || check
          ? [[...hosts]]
          : rollingBatches(hosts, playbook.strategy.serial, onTarget);
      // Set once a batch of this phase has run hosts not already on target: the
      // strategy's pause and question come between such a batch and the next.
      let changingBatchRan = false;
      for (const [batchIndex, batch] of batches.entries()) {
        const runnable = batch.filter((h) => {
          const kind = states.get(h.name)?.kind;
          return kind === 'pending' || kind === 'connected';
        });
        const position = {
          phase: phase.name,
          batch: batchIndex + 1,
          batches: batches.length,
          hosts: runnable.map((h) => h.name),
        };
        if (changingBatchRan && runnable.length > 0 && stopped === undefined && !options.signal.aborted) {
          const go = await betweenBatches(position, {
            strategy: playbook.strategy,
            emit,
            signal: options.signal,
            assumeYes: options.assumeYes === true,
            ...(options.confirmBatch ? { confirmBatch: options.confirmBatch } : {}),
          });
          if (go === 'declined') {
            emit({
              event: 'aborted',
              reason: `batch ${position.batch} of ${position.batches} (${position.hosts.join(', ')}) was not confirmed; no further batch starts`,
            });
            stopped = `not started: batch ${position.batch} of ${position.batches} was not confirmed`;
            declined = true;
          }
        }
        if (stopped !== undefined || options.signal.aborted) {
          const why = options.signal.aborted ? 'interrupted' : (stopped as string);
          for (const host of runnable) skipRemaining(host.name, [...phaseTasks, ...laterTasks], why);
          for (const host of runnable) states.set(host.name, { kind: 'stopped' });
          continue;
        }
        if (runnable.length === 0) continue;
        const settled = phase.batches === 'serial' && !check && batch.every(onTarget);
        if (check && phase.batches === 'serial') {
          // Planned all at once, shown as apply's batches.
          const layout = rollingBatches(runnable, playbook.strategy.serial, onTarget);
          ordered.begin(
            layout.map((hostsOfBatch, index) => ({
              hosts: hostsOfBatch.map((h) => h.name),
              header: {
                event: 'batch',
                phase: phase.name,
                batch: index + 1,
                batches: layout.length,
                hosts: hostsOfBatch.map((h) => h.name),
                ...(hostsOfBatch.every(onTarget) ? { on_target: true as const } : {}),
              },
            })),
          );
        } else {
          emit({ event: 'batch', ...position, ...(settled ? { on_target: true as const } : {}) });
        }
        // Every host of the batch is connected first, so each task can see which hosts
        // it runs beside and what they are (one build per platform), decided the same
        // way on every host whatever order they connect in.
        await forEachLimited(runnable, options.forks, async (host) => {
          await ensureConnected(host);
        });
        const peers = runnable.flatMap((host): BuildPeer[] => {
          const state = states.get(host.name);
          return state?.kind === 'connected'
            ? [{ name: host.name, facts: state.facts, target: state.target }]
            : [];
        });
        await forEachLimited(runnable, options.forks, (host) =>
          runHostPhase(host, phase, laterTasks, peers).finally(() => ordered.finished(host.name)),
        );
        ordered.end();
        if (!settled) changingBatchRan = true;
        const tooMany = check || stopped !== undefined ? undefined : failureLimitExceeded();
        if (tooMany) {
          emit({
            event: 'aborted',
            reason: `${failedHostCount()} of ${hosts.length} hosts failed, ${tooMany.above}; no further batch starts`,
          });
          stopped = `not started: ${tooMany.limit} exceeded`;
        }
      }
    }
  } finally {
    await Promise.all(
      opened.map(async (s) => {
        // A backup started but never finished (the host stopped before swap): drop the partial file.
        if (s.run.backup && !s.run.backupFile) await s.run.backup.abort().catch(() => {});
        if (s.run.hostLock?.kind === 'held') await s.run.hostLock.release().catch(() => {});
        await s.transport.close().catch(() => {});
      }),
    );
    await shared.builds.dispose();
  }

  for (const [host, run] of runs) {
    const counts = recap[host] as HostRecap;
    if (run.swapTaken) counts.swap_mode = run.swapTaken.path;
    if (run.outOfServiceMs !== undefined) counts.out_of_service_ms = run.outOfServiceMs;
    if (run.leftOut !== undefined) counts.left_out = run.leftOut;
    if (run.possiblyStale) {
      counts.possibly_stale = run.possiblyStale.count;
      if (run.possiblyStale.unknown) counts.possibly_stale_uncounted = run.possiblyStale.unknown;
    }
  }
  const interrupted = options.signal.aborted || declined;
  if (check) {
    const results = hosts.map((host): HostPlanResult => {
      const counts = recap[host.name] as HostRecap;
      const outcome = counts.unreachable
        ? 'unreachable'
        : counts.failed > 0
          ? 'failed'
          : counts.changed > 0
            ? 'changed'
            : 'ok';
      const failure = firstFailures.get(host.name);
      return {
        host: host.name,
        outcome,
        actions: plannedActions.get(host.name) ?? [],
        ...(outcome === 'failed' && failure ? { failure } : {}),
      };
    });
    emit({ event: 'plan-summary', ...summarizePlans(results, playbook.strategy) });
  }
  options.journal?.append({ entry: 'recap', interrupted, hosts: recap });
  emit({
    event: 'recap',
    hosts: recap,
    interrupted,
    journal: options.journal?.path ?? null,
    // resourceUsage reports kilobytes.
    controller_peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    log: options.runLog ?? null,
  });
  return { recap, interrupted };
}
