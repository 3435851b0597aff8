import { errorMessage } from '../errors.js';
import { waitForPort, wakeWhileStopping } from '../facts/wait.js';
import { restoreBackup } from '../memcached/backup-pass.js';
import { encodeKey } from '../memcached/key-encoding.js';
import { keyDigestId } from '../memcached/key-index.js';
import { MetaClient } from '../memcached/meta-client.js';
import type { HandoverFollower } from '../memcached/old-side-fence.js';
import { memcachedStartArgs, pidfileStop, serviceControl } from '../service/service.js';
import { sh } from '../transport/quote.js';
import { formatCount } from '../units.js';
import { metaReadyScript, stopInstance } from './instance.js';
import { markRestored } from './restore-marker.js';
import { clientChangesSinceStart, compareItems, sampleBackup, toleratedDifferences } from './sample-check.js';
import type { FinishedBackup, TaskContext } from './task.js';
import { failureOf, type TaskFailure } from './task.js';
import { warmExpiryToleranceSeconds } from './warm-proof.js';

// swap.mode: handover. The new build starts beside the old one, on a side port
// and a memory file of its own; the backup is restored into it and it follows
// every change clients make on the old instance, while the old one serves. Then
// the old instance stops (SIGUSR1: its change stream is complete up to the
// exit), the keys changed since the last round are deleted on the new one (a
// miss, never an older value), and the new build is restarted warm on the real
// port from its memory file. Clients see one stop and one warm start; nothing
// serves them a cache that is still being filled.

export type HandoverResult =
  | { readonly ok: true; readonly items: number; readonly detail: string; readonly outOfServiceMs: number }
  | { readonly ok: false; readonly reason: string };

const maxRounds = 10;
const quietBelow = 20;
const sideStartTimeoutMs = 15_000;

const fail: TaskFailure = failureOf('swap');

/** The side instance's files: beside the host's memory file and pidfile, never the ones in use. */
export function sideFiles(memoryFile: string, prefix: string) {
  return {
    memoryFile: `${memoryFile}.memplay-handover`,
    pidfile: `${prefix}/memplay-handover.pid`,
  };
}

/** The effective start arguments with the side instance's pidfile, port and memory file. */
export function sideStartArgs(
  ctx: TaskContext,
  side: { memoryFile: string; pidfile: string },
  sidePort: number,
): string[] {
  const args = memcachedStartArgs(
    { ...ctx.host, memcached: { ...ctx.host.memcached, port: sidePort } },
    side.pidfile,
  );
  return args.map((arg, i) =>
    args[i - 1] === '-e' || args[i - 1] === '--memory-file' ? side.memoryFile : arg,
  );
}

async function stopSide(ctx: TaskContext, pidfile: string, sidePort: number, signal: 'TERM' | 'USR1') {
  const stopping = ctx.transport.run(pidfileStop(pidfile, signal));
  // memcached notices the signal when its main loop wakes: a connection wakes it at once.
  await wakeWhileStopping(ctx.transport, sidePort, stopping);
  const result = await stopping;
  if (result.code !== 0) throw new Error(`stopping the side instance failed: ${result.stderr.trim()}`);
}

/** Removes what an earlier, interrupted handover left: its side instance and memory file. */
async function clearLeftovers(ctx: TaskContext, side: { memoryFile: string; pidfile: string }, port: number) {
  await stopSide(ctx, side.pidfile, port, 'TERM');
  await ctx.transport.run(sh`rm -f ${side.memoryFile} ${`${side.memoryFile}.meta`}`);
}

export async function handOver(
  ctx: TaskContext,
  backup: FinishedBackup,
  follower: HandoverFollower,
  choice: { memoryFile: string; sidePort: number },
): Promise<HandoverResult> {
  const { version } = ctx.target;
  const { port, prefix } = ctx.host.memcached;
  const side = sideFiles(choice.memoryFile, prefix);
  const sidePort = choice.sidePort;
  const connectSide = () => MetaClient.connect(() => ctx.transport.openTcp(sidePort), { connections: 2 });

  // 1. While the old instance serves: the new build beside it, filled and following.
  let sideClient: MetaClient | undefined;
  try {
    await clearLeftovers(ctx, side, sidePort);
    ctx.progress(`start ${version} beside the old instance on port ${sidePort} (${side.memoryFile})`);
    const binary = `${prefix}/${version}/bin/memcached`;
    const started = await ctx.transport.run(sh`${binary} ${sideStartArgs(ctx, side, sidePort)}`);
    if (started.code !== 0) throw new Error(`starting it exited ${started.code}: ${started.stderr.trim()}`);
    const up = await waitForPort(ctx.transport, sidePort, (v) => v === version, sideStartTimeoutMs);
    if (!up.accepted) throw new Error(`port ${sidePort} answers ${up.version ?? 'nothing'}`);
    sideClient = await connectSide();
    const clock = await sideClient.serverClock();
    ctx.progress(`restore ${formatCount(backup.items)} items into the new build while the old one serves`);
    const restored = await restoreBackup(sideClient, backup.path, {
      mode: 'set',
      clock,
      ...(backup.verifiedHeader ? { alreadyVerified: backup.verifiedHeader } : {}),
    });
    const failed = restored.tooLarge.length + restored.outOfMemory.length + restored.unaddressable.length;
    if (failed > 0) {
      throw new Error(
        `${failed} items could not be stored in the new build (too large, out of memory or unaddressable): ${[...restored.tooLarge, ...restored.outOfMemory, ...restored.unaddressable].slice(0, 5).join(', ')}`,
      );
    }
    let rounds = 0;
    let copied = 0;
    for (; rounds < maxRounds; ) {
      rounds++;
      ctx.progress(`follow clients' changes on the old instance (round ${rounds})`);
      const round = await follower.copyRound(sideClient, clock);
      copied += round.copied + round.deleted;
      if (round.touched < quietBelow) break;
    }
    ctx.progress(`caught up: ${formatCount(copied)} changes copied in ${rounds} rounds`);
  } catch (error) {
    sideClient?.close();
    follower.abort();
    await clearLeftovers(ctx, side, sidePort).catch(() => {});
    fail(
      ctx,
      `handover: preparing the new build beside the old one failed: ${errorMessage(error)} — nothing was stopped, the old instance keeps serving`,
    );
  }

  // Read from the backup while the old instance still serves; filtered by the last changes below.
  const backupSample = await sampleBackup(backup.path, backup.items, ctx.playbook.verify.sample);

  // 2. The hand-over: out of service from the old instance's stop to the new one serving on the port.
  ctx.run.swap.stoppedAt = performance.now();
  const stoppedAt = ctx.run.swap.stoppedAt;
  const stopped = await stopInstance(ctx, { forRestart: true });
  if (!stopped.ok) {
    sideClient.close();
    fail(ctx, stopped.reason);
  }
  const last = await follower.lastChanges();
  const record = follower.record(last.ended ? undefined : "the old instance's change stream did not end");
  ctx.run.swap.fenceRecord = record;
  // Changed in the old instance's last moments: a miss on the new one, never the older copy.
  const lastKeys = last.keys.filter(addressable);
  if (lastKeys.length > 0) await sideClient.deleteKeys(lastKeys);
  ctx.run.account.leftOut = last.keys.length;
  const changed = new Set(record.excluded);
  const sample = backupSample.filter((item) => !changed.has(keyDigestId(item.key)));
  const sideItems = Number((await sideClient.stats()).get('curr_items') ?? 0);
  sideClient.close();
  ctx.progress('stop the new build with SIGUSR1 and restart it warm on the real port');
  // One remote command for the rest of the window: each ssh round trip is out-of-service time.
  const service = serviceControl(ctx.host);
  const takeOver = ctx.transport.run(
    sh`${pidfileStop(side.pidfile, 'USR1')} || exit 11
rm -f ${`${choice.memoryFile}.meta`} && mv -f ${side.memoryFile} ${choice.memoryFile} && mv -f ${`${side.memoryFile}.meta`} ${`${choice.memoryFile}.meta`} || exit 12
sh -c ${metaReadyScript} memplay-meta ${`${choice.memoryFile}.meta`} || exit 13
ln -sfn ${version} ${`${prefix}/current.memplay-new`} && mv -T ${`${prefix}/current.memplay-new`} ${`${prefix}/current`} || exit 14
${service.start()} || exit 15`,
    service.runOptions,
  );
  // memcached notices the SIGUSR1 when its main loop wakes: a connection wakes it at once.
  await wakeWhileStopping(ctx.transport, sidePort, takeOver);
  const took = await takeOver;
  if (took.code !== 0) {
    const step =
      {
        11: 'stopping the new build with SIGUSR1',
        12: 'moving its memory file into place',
        13: `finding ${choice.memoryFile}.meta after its SIGUSR1`,
        14: `pointing ${prefix}/current at ${version}`,
        15: `starting ${version} on ${choice.memoryFile}`,
      }[took.code] ?? `the hand-over (exit ${took.code})`;
    return { ok: false, reason: `${step} failed: ${(took.stderr || took.stdout).trim()}` };
  }
  const serving = await waitForPort(ctx.transport, port, (v) => v === version, sideStartTimeoutMs);
  if (!serving.accepted) {
    return {
      ok: false,
      reason: `${version} did not come up on port ${port} from ${choice.memoryFile}: ${serving.version ? `it answers ${serving.version}` : 'nothing answers'}`,
    };
  }
  const outOfServiceMs = Math.round(performance.now() - stoppedAt);

  // 3. The proof: what the new build held on the side port is what serves now.
  const live = await MetaClient.connect(() => ctx.transport.openTcp(port), { connections: 2 });
  try {
    const stats = await live.stats();
    const items = Number(stats.get('curr_items') ?? 0);
    // Clients write and delete on the new instance from its first moment: a few either way.
    const clientChanges = clientChangesSinceStart(stats);
    const removed = Number(stats.get('delete_hits') ?? 0) + Number(stats.get('evictions') ?? 0);
    if (items + removed < sideItems) {
      return {
        ok: false,
        reason: `the warm start came back with ${formatCount(items)} items, the new build held ${formatCount(sideItems)} before its SIGUSR1`,
      };
    }
    const compared = await compareItems(live, sample, await live.serverClock(), warmExpiryToleranceSeconds);
    if (compared.mismatches.length > toleratedDifferences(compared.compared, clientChanges, items)) {
      return {
        ok: false,
        reason: `${compared.mismatches.length} of ${compared.compared} sampled items differ after the warm start: ${compared.mismatches.slice(0, 5).join('; ')}`,
      };
    }
    await markRestored(backup.path, { host: ctx.host.name, into: version, handover: true, items });
    return {
      ok: true,
      items,
      outOfServiceMs,
      detail: `${formatCount(items)} items ≥ ${formatCount(sideItems)} held before the hand-over, ${compared.compared} sampled items match; ${formatCount(last.keys.length)} keys clients changed in the old instance's last moments made a miss`,
    };
  } finally {
    live.close();
  }
}

function addressable(key: Buffer): boolean {
  try {
    encodeKey(key);
    return true;
  } catch {
    return false;
  }
}
