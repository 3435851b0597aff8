import { posix } from 'node:path';
import { TaskFailed } from '../errors.js';
import { cacheBytes, gatherHandoverRoom, handoverRoomProblem } from '../facts/handover-room.js';
import type { HostFacts } from '../facts/host-facts.js';
import { gatherWarmRestartFacts } from '../facts/warm-restart.js';
import { META_BACKUP_SINCE, speaksMeta } from '../memcached/backup-path.js';
import { memorySettingDifferences, memorySettings } from '../memcached/memory-settings.js';
import { type SwapChoice, sealedBackup, type TaskContext } from './task.js';

// Which path swap takes on a host (`swap.mode`), decided read-only so that
// `--check` and apply say the same. Warm needs: an upgrade, the pidfile
// manager (memplay sends the SIGUSR1 itself), a backup to prove the result
// against, a running memcached with a memory file, and start arguments naming
// the same file. `auto` also needs every memory setting unchanged; `warm`
// tries anyway and lets the proof decide.

function cold(reason: string): SwapChoice {
  return { path: 'cold', reason };
}

/** A port beside the memcached port that nothing accepts connections on, or null. */
async function freeSidePort(ctx: TaskContext): Promise<number | null> {
  const { port } = ctx.host.memcached;
  for (let offset = 1000; offset < 1010; offset++) {
    const candidate = port + offset <= 65535 ? port + offset : port - offset;
    try {
      const stream = await ctx.transport.openTcp(candidate);
      stream.destroy();
    } catch {
      return candidate;
    }
  }
  return null;
}

/**
 * What the host's other instances in this batch need beside this one's copy while they
 * hand over at the same time (strategy.instances_together): their caches in memory, and
 * on this memory file's folder those whose memory file is there too.
 */
function siblingCopies(ctx: TaskContext, file: string): { memoryBytes: number; folderBytes: number } {
  let memoryBytes = 0;
  let folderBytes = 0;
  for (const sibling of ctx.batchSiblings ?? []) {
    const settings = memorySettings(sibling.memcached.args);
    const bytes = cacheBytes(settings['-m']);
    memoryBytes += bytes;
    if (settings['-e'] !== undefined && posix.dirname(settings['-e']) === posix.dirname(file))
      folderBytes += bytes;
  }
  return { memoryBytes, folderBytes };
}

/**
 * `swap.mode: handover`, decided read-only. Where it cannot work the plan fails
 * before anything changes: the playbook asked for it, and a quiet fall back to
 * the cold path would quietly give up its guarantee.
 */
async function chooseHandover(ctx: TaskContext, facts: HostFacts): Promise<SwapChoice> {
  const fail = (why: string): never => {
    throw new TaskFailed(ctx.host.name, 'swap', `swap.mode: handover: ${why} — nothing was changed`);
  };
  const service = ctx.host.memcached.service;
  if (service.manager !== 'pidfile') {
    fail(
      `service ${service.unit} is run by systemd; a handover starts the new build beside the old one itself, which needs the pidfile manager. Use swap.mode: cold (or auto) for this host`,
    );
  }
  if (facts.runningVersion === null) {
    return cold(`nothing serves on port ${ctx.host.memcached.port}: nothing to hand over`);
  }
  if (!speaksMeta(facts.runningVersion)) {
    fail(
      `memcached ${facts.runningVersion} has no change stream memplay can follow (before ${META_BACKUP_SINCE}), which a handover needs to catch the new build up. Use swap.mode: cold (or auto) for this host`,
    );
  }
  const file = memorySettings(ctx.host.memcached.args)['-e'] as string;
  const bytes = cacheBytes(memorySettings(ctx.host.memcached.args)['-m']);
  const room = handoverRoomProblem(
    await gatherHandoverRoom(ctx.transport, file),
    file,
    bytes,
    siblingCopies(ctx, file),
  );
  if (room) fail(`no room for a second copy of the cache: ${room}`);
  const sidePort = await freeSidePort(ctx);
  if (sidePort === null) {
    return fail(`no free port between ${ctx.host.memcached.port + 1000} and +1009 for the new build`);
  }
  return {
    path: 'handover',
    reason: `swap.mode: handover, memory file ${file}, side port ${sidePort}`,
    memoryFile: file,
    sidePort,
  };
}

export async function chooseSwapPath(ctx: TaskContext, facts: HostFacts): Promise<SwapChoice> {
  const mode = ctx.playbook.swap.mode;
  if (mode === 'cold') return cold('swap.mode: cold');
  if (ctx.job.kind !== 'upgrade') return cold(`memplay ${ctx.job.kind} always restarts cold`);
  if (mode === 'handover') return chooseHandover(ctx, facts);
  const service = ctx.host.memcached.service;
  if (service.manager !== 'pidfile') {
    return cold(
      `service ${service.unit} is run by systemd, which memplay cannot yet stop with SIGUSR1 (the signal that writes the .meta file a warm start needs)`,
    );
  }
  const wanted = memorySettings(ctx.host.memcached.args);
  const file = wanted['-e'];
  if (file === undefined) return cold('memcached.args have no -e memory file');
  if (!ctx.run.decisions.backup && !sealedBackup(ctx.run)) {
    return cold('no backup in this run to prove a warm restart against');
  }
  const warm = await gatherWarmRestartFacts(ctx.host, ctx.transport, file);
  if (facts.runningVersion === null) {
    // A run killed after its SIGUSR1 leaves the .meta and the backup: resume from both.
    if (warm.metaWaiting && (sealedBackup(ctx.run) || ctx.run.backup.open)) {
      return { path: 'warm', reason: `${file}.meta left by a stopped instance is waiting`, memoryFile: file };
    }
    return cold(`nothing serves on port ${ctx.host.memcached.port} and no ${file}.meta is waiting`);
  }
  if (warm.memoryFile === null) return cold(`the running memcached has no memory file (-e)`);
  if (warm.memoryFile !== file) {
    return cold(`the running memcached's memory file is ${warm.memoryFile}, memcached.args name ${file}`);
  }
  const differences = warm.runningArgs
    ? memorySettingDifferences(memorySettings(warm.runningArgs), wanted)
    : null;
  if (mode === 'warm') {
    const caveat =
      differences === null
        ? '; the running command line could not be read'
        : differences.length > 0
          ? `; memory settings differ (${differences.join(', ')}), so memcached may start empty and the proof decides`
          : '';
    return { path: 'warm', reason: `swap.mode: warm, memory file ${file}${caveat}`, memoryFile: file };
  }
  if (differences === null) return cold(`the running memcached's command line could not be read`);
  if (differences.length > 0) return cold(`memory settings differ: ${differences.join(', ')}`);
  return { path: 'warm', reason: `memory file ${file}, memory settings unchanged`, memoryFile: file };
}
