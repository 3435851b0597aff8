import type { HostConfig, Playbook } from '../playbook/types.js';
import { BuildHostService } from '../tasks/build-host.js';
import { BuildExchange } from '../tasks/build-sharing.js';
import { prebuiltOnce } from '../tasks/prebuilt-tree.js';
import { localTarballOnce } from '../tasks/source-tarball.js';
import type { SharedWork } from '../tasks/task.js';
import { instancesApart } from './batches.js';
import { engineDeps } from './deps.js';
import { thisRun } from './host-lock.js';
import { releaseHost } from './host-release.js';
import { FleetState } from './host-state.js';
import { InstanceSharing } from './instance-sharing.js';
import { OrderedEmission } from './ordered-emission.js';
import { failureLimitExceeded, runPhase } from './phase-run.js';
import type { Pipeline } from './pipeline.js';
import { summarizePlans } from './plan-summary.js';
import { RunRecap } from './recap.js';
import { type RunContext, type RunOptions, type RunResult, RunStop } from './run-context.js';

export type { RunOptions, RunResult } from './run-context.js';

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
  const fleet = new FleetState(hosts);
  const ctx: RunContext = {
    playbook,
    hosts,
    options,
    check,
    emit,
    deps: engineDeps(options.deps),
    shared: sharedWork(playbook, options),
    fleet,
    recap: new RunRecap(
      hosts.map((h) => h.name),
      {
        emit,
        journal: options.journal,
        check,
        hostView: (host) => {
          const connected = fleet.connected(host);
          const run = fleet.runOf(host);
          return {
            ...(run ? { run } : {}),
            ...(connected
              ? {
                  versions: {
                    target_version: connected.target.version,
                    running_version: connected.facts.runningVersion,
                  },
                }
              : {}),
          };
        },
      },
    ),
    stop: new RunStop(options.signal),
    lockHolder: thisRun(),
    instances: new InstanceSharing(),
  };
  announceStart(ctx, pipeline);
  await preflightRefusals(ctx, pipeline);
  refuseBeforeTheRun(ctx);
  try {
    for (const [phaseIndex, phase] of pipeline.phases.entries()) {
      const laterTasks = pipeline.phases.slice(phaseIndex + 1).flatMap((p) => p.tasks);
      await runPhase(ctx, ordered, phase, laterTasks);
    }
  } finally {
    await Promise.all(fleet.openedHosts().map((host) => releaseHost(ctx, host)));
    await ctx.shared.buildHost?.close();
    await ctx.shared.builds.dispose();
  }
  return finish(ctx);
}

/** What the hosts' tasks share for one run: the source tarball, the builds they ship each other, build_on, prebuilt. */
function sharedWork(playbook: Playbook, options: RunOptions): SharedWork {
  const { buildOn, prebuilt } = playbook.target;
  return {
    localTarball: localTarballOnce(playbook.target),
    builds: new BuildExchange(),
    ...(buildOn && { buildHost: new BuildHostService(buildOn, options.connect) }),
    ...(prebuilt && { prebuilt: prebuiltOnce(prebuilt) }),
  };
}

function announceStart(ctx: RunContext, pipeline: Pipeline): void {
  const { options, playbook, hosts } = ctx;
  options.journal?.append({
    entry: 'start',
    job: options.job.kind,
    playbook: playbook.file,
    hosts: hosts.map((h) => h.name),
  });
  ctx.emit({
    event: 'start',
    playbook: playbook.file,
    name: playbook.name,
    check: ctx.check,
    hosts: hosts.map((h) => h.name),
    tasks: pipeline.phases.flatMap((phase) => phase.tasks).map((t) => t.name),
    job: options.job.kind,
    memplay_version: options.memplayVersion,
    ...(options.job.kind === 'rollback'
      ? { target_version: null, rollback_from: playbook.target.version }
      : { target_version: playbook.target.version }),
    log: options.runLog ?? null,
    journal: options.journal?.path ?? null,
  });
}

/**
 * Controller-side refusals (an unsafe backup folder) come before any host is
 * connected to: a host refused here is never touched.
 */
async function preflightRefusals(ctx: RunContext, pipeline: Pipeline): Promise<void> {
  const allTasks = pipeline.phases.flatMap((phase) => phase.tasks);
  for (const host of ctx.hosts) {
    for (const [index, task] of allTasks.entries()) {
      const problem = await task.preflight?.({ job: ctx.options.job, host, playbook: ctx.playbook });
      if (problem === undefined) continue;
      ctx.fleet.fail(host.name);
      ctx.recap.task(host.name, task, 'failed', problem, Date.now());
      ctx.recap.skip(
        host.name,
        allTasks.filter((_, other) => other !== index),
        `${task.name} refused before the run`,
      );
      break;
    }
  }
}

/** Refusals past the strategy's failure limit: no host is changed (--check plans them all anyway). */
function refuseBeforeTheRun(ctx: RunContext): void {
  const tooMany = ctx.check ? undefined : failureLimitExceeded(ctx);
  if (!tooMany) return;
  ctx.emit({
    event: 'aborted',
    reason: `${ctx.fleet.failedCount()} of ${ctx.hosts.length} hosts refused before the run, ${tooMany.above}; no host is changed`,
  });
  ctx.stop.stop(`not started: ${tooMany.limit} exceeded`);
}

/** The run's end: each host's own figures in the recap, --check's fleet summary, the recap. */
function finish(ctx: RunContext): RunResult {
  const { options, recap } = ctx;
  for (const [host, run] of ctx.fleet.runs()) recap.addRunFields(host, run);
  const interrupted = ctx.stop.interrupted;
  if (ctx.check) {
    const results = recap.planResults(ctx.hosts.map((h) => h.name));
    const apart = instancesApart(ctx.playbook.strategy, ctx.hosts);
    ctx.emit({ event: 'plan-summary', ...summarizePlans(results, ctx.playbook.strategy, apart) });
  }
  options.journal?.append({ entry: 'recap', interrupted, hosts: recap.hosts });
  ctx.emit({
    event: 'recap',
    hosts: recap.hosts,
    interrupted,
    journal: options.journal?.path ?? null,
    // resourceUsage reports kilobytes.
    controller_peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    log: options.runLog ?? null,
  });
  return { recap: recap.hosts, interrupted };
}
