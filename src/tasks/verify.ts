import { TaskFailed } from '../errors.js';
import { noteOwnReads } from '../facts/own-reads.js';
import { keyDigestId } from '../memcached/key-index.js';
import { runGates } from './gates/run-gates.js';
import { connectMeta } from './memcached-client.js';
import {
  clientChangesSinceStart,
  compareSample,
  toleratedDifferences,
  ttlToleranceSeconds,
} from './sample-check.js';
import type { TaskContext, TaskModule } from './task.js';
import { ok } from './task.js';
import { warmExpiryToleranceSeconds } from './warm-proof.js';

// verify changes nothing: its plan is the check. In --check it runs against the
// facts the earlier plans predict; in apply, against facts gathered after them.
export const verify: TaskModule = {
  name: 'verify',
  async plan(ctx, facts) {
    const { version } = ctx.target;
    const port = ctx.host.memcached.port;
    if (facts.runningVersion === null) {
      throw new TaskFailed(
        ctx.host.name,
        'verify',
        `nothing answers on port ${port}; expected ${version} — check the service and its log on the host`,
      );
    }
    if (facts.runningVersion !== version) {
      throw new TaskFailed(
        ctx.host.name,
        'verify',
        `port ${port} answers ${facts.runningVersion}, expected ${version} — is another instance bound to the port?`,
      );
    }
    if (facts.currentLink !== version) {
      throw new TaskFailed(
        ctx.host.name,
        'verify',
        `${ctx.host.memcached.prefix}/current points at ${facts.currentLink ?? 'nothing'}, expected ${version}`,
      );
    }
    const served = `${version} answers on port ${port}`;
    const sampled = await checkSample(ctx, served);
    // After the sample check: the gates' load writes (and deletes) memplay's own keys only.
    const gates = await runGates(ctx);
    // memplay's reads of this instance end here: facts counts the clients' hit ratio from this
    // note. Only after a swap in this run (these are set by apply, never in --check): a no-op
    // re-run reads nothing, and verify's work is all in its plan (the engine applies changes only).
    if (ctx.run.restored || ctx.run.warmResumed || ctx.run.oldInstance) {
      await noteOwnReads(ctx.transport, ctx.host.memcached.port, ctx.host.memcached.prefix);
    }
    return ok(gates ? `${sampled}; ${gates}` : sampled, facts);
  },
  async apply(_ctx, plan) {
    return { status: 'ok', detail: plan.detail };
  },
};

/** The restored items read back equal to the backup; returns verify's detail so far. */
async function checkSample(ctx: TaskContext, served: string): Promise<string> {
  // Only what restore actually wrote (or a warm restart resumed) is compared; in --check nothing is yet.
  const file =
    ctx.run.restored || ctx.run.warmResumed ? (ctx.run.backupFile ?? ctx.run.restoreSource) : undefined;
  const sampleSize = ctx.playbook.verify.sample;
  if (!file) {
    if ((ctx.run.plannedBackup || ctx.run.backupFile) && sampleSize > 0) {
      return `${served}; will compare ${sampleSize} restored items with the backup`;
    }
    return served;
  }
  if (sampleSize === 0) return `${served}; sample check off (verify.sample: 0)`;
  const client = await connectMeta(ctx);
  try {
    // A warm-resumed cache carries memcached's clock rebase (see warm-proof.ts).
    const tolerance = ctx.run.warmResumed ? warmExpiryToleranceSeconds : ttlToleranceSeconds;
    // Keys clients changed may rightly differ from the backup: on the old side
    // after the seal (left out of the restore), on the new side since the restore.
    const changed = new Set(ctx.run.fenceRecord?.excluded ?? []);
    const guard = ctx.run.newSideGuard;
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
      (ctx.run.restored?.keptNewer ?? 0) + toleratedDifferences(result.compared, changes, file.items);
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
