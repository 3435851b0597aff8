import { TaskFailed } from '../errors.js';
import { noteOwnReads } from '../facts/own-reads.js';
import { keyDigestId } from '../memcached/key-index.js';
import { measureGates, planGates } from './gates/run-gates.js';
import { connectMeta } from './memcached-client.js';
import { returnToPackage } from './package-return.js';
import {
  clientChangesSinceStart,
  compareSample,
  toleratedDifferences,
  ttlToleranceSeconds,
} from './sample-check.js';
import type { FinishedBackup, Plan, TaskContext, TaskModule, VerifyDecision } from './task.js';
import { failureOf, ok, sealedBackup, type TaskFailure } from './task.js';
import { warmExpiryToleranceSeconds } from './warm-proof.js';

// verify changes nothing. Its plan checks what the facts say (the target
// answers, `current` names it) and decides what apply proves against the host:
// a sample of the carried items compared with the backup, the gates against the
// old instance swap recorded. In --check, where nothing was carried yet, the
// plan's words are the prediction (the settings gate from memcached.args).
export const verify: TaskModule<VerifyDecision> = {
  name: 'verify',
  async plan(ctx, facts): Promise<Plan<VerifyDecision>> {
    const { version } = ctx.target;
    const port = ctx.host.memcached.port;
    if (facts.runningVersion === null) {
      fail(
        ctx,
        `nothing answers on port ${port}; expected ${version} — check the service and its log on the host`,
      );
    }
    if (facts.runningVersion !== version) {
      fail(
        ctx,
        `port ${port} answers ${facts.runningVersion}, expected ${version} — is another instance bound to the port?`,
      );
    }
    // Back on the distribution's package: its binary runs, and `current` names no build.
    const onPackage = returnToPackage(ctx.job, facts);
    if (onPackage && (facts.currentLink !== null || facts.commandLine?.[0] !== onPackage.binary)) {
      fail(
        ctx,
        `the unit runs ${facts.commandLine?.[0] ?? 'nothing'} (${ctx.host.memcached.prefix}/current: ${facts.currentLink ?? 'none'}), expected the ${onPackage.packageName} package's ${onPackage.binary}`,
      );
    }
    if (!onPackage && facts.currentLink !== version) {
      fail(
        ctx,
        `${ctx.host.memcached.prefix}/current points at ${facts.currentLink ?? 'nothing'}, expected ${version}`,
      );
    }
    const served = `${version} answers on port ${port}`;
    const run = ctx.run;
    // What this run carried (declared by restore, or swap's warm path): only that is compared.
    const sample = run.restore.restored
      ? run.restore.restored.from
      : run.swap.warmResumed
        ? sealedBackup(run)
        : undefined;
    const gates = ctx.job.kind === 'upgrade' ? run.swap.oldInstance : undefined;
    const sampleSize = ctx.playbook.verify.sample;
    if (sample !== undefined || gates !== undefined) {
      const checks = [
        served,
        sample === undefined
          ? ''
          : sampleSize === 0
            ? 'sample check off (verify.sample: 0)'
            : `compare ${sampleSize} sampled items with ${sample.path}`,
        gates === undefined ? '' : 'hold it to the old instance (gates)',
      ].filter(Boolean);
      return {
        status: 'ok',
        detail: checks.join('; '),
        facts,
        proves: true,
        // memplay's reads of this instance end with verify's: facts counts the clients' hit ratio from its note.
        decision: { ...(sample ? { sample } : {}), ...(gates ? { gates } : {}), noteOwnReads: true },
      };
    }
    const planned = run.decisions.backup !== undefined || run.decisions.restore !== undefined;
    const sampled =
      planned && sampleSize > 0
        ? `${served}; will compare ${sampleSize} restored items with the backup`
        : served;
    const predicted = await planGates(ctx);
    return ok(predicted ? `${sampled}; ${predicted}` : sampled, facts);
  },

  async apply(ctx, plan) {
    const decision = plan.decision;
    if (!decision) return { status: 'ok', detail: plan.detail };
    const served = `${ctx.target.version} answers on port ${ctx.host.memcached.port}`;
    const sampled = decision.sample ? await checkSample(ctx, decision.sample, served) : served;
    // After the sample check: the gates' load writes (and deletes) memplay's own keys only.
    const gates = decision.gates ? await measureGates(ctx, decision.gates) : undefined;
    if (decision.noteOwnReads) {
      await noteOwnReads(ctx.transport, ctx.host.memcached.port, ctx.host.memcached.prefix);
    }
    return { status: 'ok', detail: gates ? `${sampled}; ${gates}` : sampled };
  },
};

const fail: TaskFailure = failureOf('verify');

/** The restored items read back equal to the backup; returns verify's detail so far. */
async function checkSample(ctx: TaskContext, file: FinishedBackup, served: string): Promise<string> {
  const sampleSize = ctx.playbook.verify.sample;
  if (sampleSize === 0) return `${served}; sample check off (verify.sample: 0)`;
  const client = await connectMeta(ctx);
  try {
    // A warm-resumed cache carries memcached's clock rebase (see warm-proof.ts).
    const tolerance = ctx.run.swap.warmResumed ? warmExpiryToleranceSeconds : ttlToleranceSeconds;
    // Keys clients changed may rightly differ from the backup: on the old side
    // after the seal (left out of the restore), on the new side since the restore.
    const changed = new Set(ctx.run.swap.fenceRecord?.excluded ?? []);
    const guard = ctx.run.restore.guard;
    if (guard) {
      for (const key of await guard.touchedSinceRestore(client))
        changed.add(keyDigestId(Buffer.from(key, 'latin1')));
    }
    const result = await compareSample(client, file.path, file.items, sampleSize, tolerance, (key) =>
      changed.has(keyDigestId(key)),
    );
    // Keys a client rewrote during restore legitimately differ from the backup, and so
    // may any key a client changed since (counted: the restore's watch names lookups
    // only, and memcached may drop its entries under the restore's burst). After a warm restart nothing watched the new instance from its start, so
    // every client change since (memcached's own counters; the proof only reads) may
    // explain one.
    const changes = guard
      ? await guard.clientChangesSinceRestore(client)
      : clientChangesSinceStart(await client.stats());
    const tolerated =
      (ctx.run.restore.restored?.keptNewer ?? 0) + toleratedDifferences(result.compared, changes, file.items);
    guard?.close();
    if (result.mismatches.length > tolerated) {
      throw new TaskFailed(
        ctx.host.name,
        'verify',
        `${result.mismatches.length} of ${result.compared} sampled items differ from the backup ${file.path}: ${result.mismatches.slice(0, 5).join('; ')}`,
      );
    }
    return `${served}; ${result.compared} sampled items match the backup (value, flags, TTL)`;
  } finally {
    client.close();
  }
}
