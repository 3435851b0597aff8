import { errorMessage } from '../errors.js';
import type { HostFacts } from '../facts/host-facts.js';
import { hasWorkingBuild } from '../facts/host-facts.js';
import { queryMemcached } from '../facts/memcached-port.js';
import type { PackageInstall } from '../facts/package-install.js';
import { verifyBackup } from '../memcached/backup-reader.js';
import { type FenceRecord, type OldSideFence, writeFenceRecord } from '../memcached/old-side-fence.js';
import { serviceControl } from '../service/service.js';
import { recordOldInstance } from './gates/instance-record.js';
import { handOver } from './handover.js';
import {
  dropInChange,
  installDropIn,
  memoryFilesOf,
  pointBuildLink,
  readBuildLink,
  restartOnBuild,
  runningCommandLine,
} from './instance.js';
import { describeEstimate, estimateOutOfServiceMs } from './out-of-service-estimate.js';
import {
  describeReturn,
  dropInPresent,
  restartOnPackage,
  returnToPackage,
  upgradingFromPackage,
} from './package-return.js';
import { chooseSwapPath } from './swap-path.js';
import type { Outcome, Plan, PlanAction, SwapChoice, SwapDecision, TaskContext, TaskModule } from './task.js';
import { decided, failureOf, ok, sealedBackup, type TaskFailure } from './task.js';
import { type PreparedProof, prepareProof } from './warm-proof.js';
import { attemptWarmRestart, changesServedSoFar, coldStart } from './warm-swap.js';

// The only task that takes a host out of service: stop the old instance,
// repoint `current` atomically (a new link renamed over the old one), start the
// new build, and wait until the port answers with the target. If the new build
// does not come up, the engine rolls the host back (src/tasks/rollback.ts):
// the old build, started again, with the backup restored into it.
// swap.mode picks the path (src/tasks/swap-path.ts): cold as above, or warm —
// SIGUSR1, the new build resumes the memory file, proven against the backup,
// and cold from the backup whenever that falls short (src/tasks/warm-swap.ts).

const fail: TaskFailure = failureOf('swap');

/** swap.mode: handover (src/tasks/handover.ts), and the cold path from the backup when it falls short after the stop. */
async function handOverOrFallBack(
  ctx: TaskContext,
  choice: Extract<SwapChoice, { path: 'handover' }>,
  fence: OldSideFence | undefined,
  previousBuild: string | null,
): Promise<Outcome> {
  const { version } = ctx.target;
  const { port } = ctx.host.memcached;
  const backup = sealedBackup(ctx.run);
  if (!backup || !fence) {
    fence?.abort();
    fail(
      ctx,
      `handover needs the backup and the old instance's change stream (${backup?.warning ?? 'no backup was sealed'}) — nothing was stopped, the old instance keeps serving`,
    );
  }
  ctx.run.swap.previousBuild = previousBuild;
  const move = `${previousBuild ?? '(none)'} → ${version}`;
  const result = await handOver(ctx, backup, fence.follower(), choice);
  if (ctx.run.swap.fenceRecord) await writeFenceRecord(backup.path, ctx.run.swap.fenceRecord);
  if (result.ok) {
    ctx.run.account.outOfServiceMs = result.outOfServiceMs;
    ctx.run.swap.taken = { path: 'handover', reason: choice.reason };
    ctx.run.swap.warmResumed = { items: result.items, proof: result.detail };
    ctx.run.account.possiblyStale = {
      count: ctx.run.swap.fenceRecord?.unknown ?? 0,
      ...(ctx.run.swap.fenceRecord?.inexact ? { unknown: ctx.run.swap.fenceRecord.inexact } : {}),
    };
    return {
      status: 'changed',
      detail: `${move} handover: ${result.detail}; serving on port ${port} from ${choice.memoryFile} (out of service ${result.outOfServiceMs} ms; memcached keeps running on the memory file)`,
      figures: { items: result.items },
    };
  }
  ctx.progress(
    `handover fell short after the stop (${result.reason}): cold start, the backup is restored next`,
  );
  ctx.run.account.possiblyStale = { count: await changesServedSoFar(ctx) };
  await coldStart(ctx, choice.memoryFile);
  ctx.run.swap.taken = { path: 'cold', reason: `handover fell back: ${result.reason}` };
  const outMs = Math.round(performance.now() - (ctx.run.swap.stoppedAt ?? performance.now()));
  ctx.run.account.outOfServiceMs = outMs;
  return {
    status: 'changed',
    detail: `${move} cold (${ctx.run.swap.taken.reason}), answering on port ${port} after ${outMs} ms; out of service until the restore ends`,
  };
}

/** After the stop: collects the old instance's last changes and records what restore must leave out. */
async function settleFence(ctx: TaskContext, fence: OldSideFence, inexact?: string): Promise<FenceRecord> {
  ctx.progress('collect the changes clients made until the old instance exited');
  const record = await fence.settle(inexact);
  const file = sealedBackup(ctx.run);
  if (file) await writeFenceRecord(file.path, record);
  ctx.run.swap.fenceRecord = record;
  return record;
}

function describeRunning(facts: HostFacts): string {
  if (!facts.runningVersion) return '';
  return `stop ${facts.runningVersion}${facts.pid ? ` (pid ${facts.pid})` : ''}, `;
}

/** Stop, repoint, start: the host is out of service from the first to the last. */
function swapActions(
  facts: HostFacts,
  version: string,
  port: number,
  choice: SwapChoice,
  cacheBytes: number,
): PlanAction[] {
  const estimate = `; ${describeEstimate(choice.path, cacheBytes)}`;
  const actions: PlanAction[] = [];
  if (choice.path === 'handover') {
    actions.push({
      kind: 'start',
      version,
      port: choice.sidePort,
      text: `start ${version} beside ${facts.runningVersion} on port ${choice.sidePort} (memory file ${choice.memoryFile}.memplay-handover), restore the backup into it and copy every change clients make on the old instance while it serves`,
    });
  }
  if (facts.runningVersion) {
    const pid = facts.pid ? ` (pid ${facts.pid})` : '';
    actions.push({
      kind: 'stop',
      version: facts.runningVersion,
      port,
      text:
        choice.path === 'warm'
          ? `SIGUSR1 ${facts.runningVersion}${pid} on port ${port}: it writes its items to ${choice.memoryFile}; out of service until the new build serves them, proven against the backup${estimate}`
          : choice.path === 'handover'
            ? `SIGUSR1 ${facts.runningVersion}${pid} on port ${port}, delete on the new build what clients changed in its last moments, SIGUSR1 the new build: out of service until it serves again on port ${port}${estimate}`
            : `stop ${facts.runningVersion}${pid} on port ${port}: out of service until restored${estimate}`,
      out_of_service_estimate_ms: estimateOutOfServiceMs(choice.path, cacheBytes),
    });
  }
  if (facts.currentLink !== version) {
    actions.push({
      kind: 'repoint',
      version,
      text: `repoint current ${facts.currentLink ?? '(none)'} → ${version}`,
    });
  }
  actions.push({
    kind: 'start',
    version,
    port,
    text:
      choice.path === 'handover'
        ? `restart ${version} warm on port ${port} from ${choice.memoryFile}, proven against what it held; it keeps running on that memory file`
        : `${facts.runningVersion ? 'restart' : 'start'} on port ${port} as ${version}`,
  });
  return actions;
}

/** `1.6.18 → 1.6.38`, with a distribution's package named where it is one side. */
function describeMove(
  previousBuild: string | null,
  decision: SwapDecision | undefined,
  version: string,
): string {
  const from =
    previousBuild ?? (decision?.fromPackage ? `the ${decision.fromPackage.packageName} package` : '(none)');
  const to = decision?.toPackage ? `the ${decision.toPackage.packageName} package's ${version}` : version;
  return `${from} → ${to}`;
}

/** `memplay rollback` of a host upgraded from the distribution's package: back to the package's binary. */
async function planReturnToPackage(
  ctx: TaskContext,
  facts: HostFacts,
  install: PackageInstall,
): Promise<Plan<SwapDecision>> {
  const { version } = ctx.target;
  const { port } = ctx.host.memcached;
  if (facts.runningVersion === version && !(await dropInPresent(ctx))) {
    return ok(`${version} from the ${install.packageName} package serving on port ${port}`, facts);
  }
  const choice = await chooseSwapPath(ctx, facts);
  const planned = ctx.run.decisions.backup;
  const bytes = planned?.kind === 'dump' ? planned.bytes : 0;
  const actions: PlanAction[] = [];
  if (facts.runningVersion) {
    actions.push({
      kind: 'stop',
      version: facts.runningVersion,
      port,
      text: `stop ${facts.runningVersion}${facts.pid ? ` (pid ${facts.pid})` : ''} on port ${port}: out of service until restored; ${describeEstimate(choice.path, bytes)}`,
      out_of_service_estimate_ms: estimateOutOfServiceMs(choice.path, bytes),
    });
  }
  actions.push({ kind: 'start', version, port, text: describeReturn(ctx, install) });
  return decided(
    `${describeRunning(facts)}${describeReturn(ctx, install)}; serving ${version} on port ${port}`,
    { ...facts, currentLink: null, runningVersion: version, pid: null },
    { choice, toPackage: install },
    actions,
  );
}

/**
 * The build this instance runs before the swap: what `current` names — except on a
 * host running several instances, which share `current`: a sibling swapped first has
 * already pointed it at the target while this one still runs the build it was started
 * from (named after its version), which is where a failure must take it back to.
 */
export async function buildBeforeSwap(ctx: TaskContext, version: string): Promise<string | null> {
  const linked = await readBuildLink(ctx, 'current');
  if (ctx.host.instanceOf === undefined || linked !== version) return linked;
  const running = await queryMemcached(ctx.transport, ctx.host.memcached.port, (client) => client.version());
  return running !== null && running !== version ? running : linked;
}

export const swap: TaskModule<SwapDecision> = {
  name: 'swap',

  async plan(ctx, facts): Promise<Plan<SwapDecision>> {
    const { version } = ctx.target;
    const { port, prefix } = ctx.host.memcached;
    const toPackage = returnToPackage(ctx.job, facts);
    if (toPackage) return planReturnToPackage(ctx, facts, toPackage);
    if (facts.currentLink === version && facts.runningVersion === version) {
      return ok(`${version} serving on port ${port}`, facts);
    }
    if (!hasWorkingBuild(facts, version)) {
      fail(ctx, `no working build of ${version} in ${prefix}/${version} — run the build task first`);
    }
    const repoint =
      facts.currentLink === version ? '' : `repoint current ${facts.currentLink ?? '(none)'} → ${version}, `;
    const choice = await chooseSwapPath(ctx, facts);
    const unit = await dropInChange(ctx).then((change) => (change ? `${change}, ` : ''));
    const detail =
      choice.path === 'handover'
        ? `${unit}handover: start ${version} beside ${facts.runningVersion} on port ${choice.sidePort}, restore the backup into it and follow clients' changes while the old one serves, then ${describeRunning(facts).replace(/^stop /, 'SIGUSR1 ')}${repoint}restart ${version} warm on port ${port} from ${choice.memoryFile} (${choice.reason}); needs room for a second copy of the cache (checked); memcached keeps running on the memory file afterwards`
        : choice.path === 'warm'
          ? `${unit}warm restart: ${describeRunning(facts).replace(/^stop /, 'SIGUSR1 ')}${repoint}start ${version} on ${choice.memoryFile}, prove it against the backup (${choice.reason}); cold from the backup if it falls short`
          : `${unit}${describeRunning(facts)}${repoint}start ${version} on port ${port} (cold: ${choice.reason})`;
    const planned = ctx.run.decisions.backup;
    const fromPackage = upgradingFromPackage(ctx.job, facts);
    return decided(
      detail,
      { ...facts, currentLink: version, runningVersion: version, pid: null },
      { choice, ...(fromPackage && { fromPackage }) },
      swapActions(facts, version, port, choice, planned?.kind === 'dump' ? planned.bytes : 0),
    );
  },

  async apply(ctx, plan): Promise<Outcome> {
    const { version } = ctx.target;
    const { port } = ctx.host.memcached;
    const previousBuild = await buildBeforeSwap(ctx, version);
    // Before the delta pass: the gates' own keys are written and deleted before it looks.
    if (ctx.job.kind === 'upgrade') ctx.run.swap.oldInstance = await recordOldInstance(ctx);

    if (ctx.run.backup.open && !ctx.run.backup.sealed) {
      ctx.progress('delta pass: re-read what changed since the full pass');
      try {
        const sealed = await ctx.run.backup.open.finish();
        // Never stop the old instance unless the backup reads back whole.
        ctx.progress('verify the backup file');
        const verification = await verifyBackup(sealed.path);
        if (!verification.ok) throw verification.error;
        ctx.run.backup.sealed = { ...sealed, verifiedHeader: verification.header };
      } catch (error) {
        fail(
          ctx,
          `sealing the backup (delta pass, then a read-back of its checksums) failed: ${errorMessage(error)} — nothing was stopped, the old instance keeps serving`,
        );
      }
    }
    // `previous` is what `memplay rollback` returns to; set while nothing is down
    // yet. A rollback leaves it alone, so running rollback twice is a no-op, not a flip.
    if (ctx.job.kind === 'upgrade' && previousBuild !== null && previousBuild !== version) {
      const remembered = await pointBuildLink(ctx, 'previous', previousBuild);
      if (!remembered.ok)
        fail(ctx, `${remembered.reason} — nothing was stopped, the old instance keeps serving`);
    }
    const toPackage = plan.decision?.toPackage;
    // systemd: the unit must start whatever `current` names before anything is stopped
    // (a return to the package removes the drop-in once the instance is down instead).
    const unitReady = toPackage ? { ok: true as const } : await installDropIn(ctx);
    if (!unitReady.ok) fail(ctx, `${unitReady.reason} — nothing was stopped, the old instance keeps serving`);
    const commandLine = await runningCommandLine(ctx);
    ctx.run.swap.previousCommandLine = commandLine && 'argv' in commandLine ? commandLine.argv : null;
    if (commandLine && 'refused' in commandLine)
      ctx.run.swap.previousCommandLineRefused = commandLine.refused;
    const choice = plan.decision?.choice;
    if (!choice) fail(ctx, 'swap was applied without a planned path — nothing was stopped');
    const backupFile = sealedBackup(ctx.run);
    // Everything the proof needs from the backup is read while the old instance still serves.
    let proof: PreparedProof | undefined;
    if (choice.path === 'warm' && backupFile) {
      ctx.progress('read the backup for the warm restart proof');
      proof = await prepareProof(backupFile.path, ctx.playbook.verify.full ? 0 : ctx.playbook.verify.sample);
    }
    const oldRunning = (await queryMemcached(ctx.transport, port, (client) => client.version())) !== null;
    const fence = backupFile?.fence;
    if (choice.path === 'handover') return handOverOrFallBack(ctx, choice, fence, previousBuild);
    if (fence && backupFile) {
      ctx.progress('last look at what clients changed since the backup was sealed');
      try {
        await fence.checkBeforeStop();
        // Killed during the stop, a re-run still leaves out what is known to have changed.
        await writeFenceRecord(backupFile.path, fence.pending());
      } catch (error) {
        fence.abort();
        fail(
          ctx,
          `checking what clients changed since the backup failed: ${errorMessage(error)} — nothing was stopped, the old instance keeps serving`,
        );
      }
    }
    // From here a failure of this or a later task rolls the host back to previousBuild (src/tasks/rollback.ts).
    ctx.run.swap.previousBuild = previousBuild;
    if (plan.decision?.fromPackage) ctx.run.swap.previousPackage = plan.decision.fromPackage;
    ctx.run.swap.stoppedAt = performance.now();
    const stoppedAt = ctx.run.swap.stoppedAt;
    const warning = backupFile?.warning ? `; ${backupFile.warning}` : '';
    const move = describeMove(previousBuild, plan.decision, version);
    if (choice.path === 'warm' && proof) {
      const attempt = await attemptWarmRestart(ctx, choice.memoryFile, proof, oldRunning, (inexact) =>
        fence ? settleFence(ctx, fence, inexact) : Promise.resolve(undefined),
      );
      if (attempt.ok) {
        // Out of service until the port answers: clients are served from then on, the proof reads alongside.
        const outMs = Math.round(attempt.servingAt - stoppedAt);
        ctx.run.account.outOfServiceMs = outMs;
        ctx.run.swap.taken = { path: 'warm', reason: choice.reason };
        ctx.run.swap.warmResumed = { items: attempt.proof.items, proof: attempt.proof.detail };
        // The new instance resumed the old one's memory as it was at the exit: exact, but for what the watch dropped.
        ctx.run.account.possiblyStale = {
          count: ctx.run.swap.fenceRecord?.unknown ?? 0,
          ...(ctx.run.swap.fenceRecord?.inexact ? { unknown: ctx.run.swap.fenceRecord.inexact } : {}),
        };
        return {
          status: 'changed',
          detail: `${move} warm: ${attempt.proof.detail}; serving on port ${port} (out of service ${outMs} ms)${warning}`,
          figures: { items: attempt.proof.items },
        };
      }
      ctx.progress(`warm restart fell short (${attempt.reason}): cold start, the backup is restored next`);
      ctx.run.account.possiblyStale = { count: await changesServedSoFar(ctx) };
      await coldStart(ctx, choice.memoryFile);
      ctx.run.swap.taken = { path: 'cold', reason: `warm restart fell back: ${attempt.reason}` };
    } else {
      // SIGUSR1 where memplay sends the signal: memcached then stops its workers
      // before its logger, so the fence's stream holds every change the old
      // instance acknowledged. SIGTERM exits without the logger's last round.
      const graceful = fence !== undefined && serviceControl(ctx.host).stopForRestart !== undefined;
      const afterStop = fence
        ? {
            afterStop: async () => {
              await settleFence(ctx, fence, graceful ? undefined : 'stopped by systemd with SIGTERM');
            },
          }
        : {};
      const restarted = toPackage
        ? await restartOnPackage(ctx, toPackage, afterStop)
        : await restartOnBuild(ctx, version, {
            forRestart: graceful,
            ...afterStop,
            // A memory-file instance wrote a .meta on SIGUSR1: the cold path must not resume it.
            setAside: graceful ? memoryFilesOf(ctx) : [],
          });
      if (!restarted.ok)
        fail(
          ctx,
          restarted.step === 'start' ? `${version} did not start: ${restarted.reason}` : restarted.reason,
        );
      ctx.run.swap.taken = { path: 'cold', reason: choice.reason };
    }
    const outMs = Math.round(performance.now() - stoppedAt);
    ctx.run.account.outOfServiceMs = outMs;
    return {
      status: 'changed',
      detail: `${move} cold (${ctx.run.swap.taken.reason}), answering on port ${port} after ${outMs} ms; out of service until the restore ends${warning}`,
    };
  },
};
