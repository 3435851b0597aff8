import { errorMessage, TaskFailed } from '../errors.js';
import { queryMemcached } from '../facts/memcached-port.js';
import { noteOwnReads } from '../facts/own-reads.js';
import { backupDirProblem } from '../memcached/backup-dir.js';
import type { BackupHeader } from '../memcached/backup-layout.js';
import { backupDeltaPass, backupFullPass, CasIndex } from '../memcached/backup-pass.js';
import { backupPathFor, describeBackupPath } from '../memcached/backup-path.js';
import { createBackupWriter } from '../memcached/backup-writer.js';
import { ChangeWatch, droppedLogEntries, WatchUnavailable } from '../memcached/change-watch.js';
import { type CatchUpResult, catchUpTouchedKeys, OldSideFence } from '../memcached/old-side-fence.js';
import { formatBytes, formatCount, formatDuration } from '../units.js';
import { connectMeta } from './memcached-client.js';
import { upgradingFromPackage } from './package-return.js';
import { unrestoredBackup } from './restore-marker.js';
import type { BackupDecision, FinishedBackup, Plan, TaskContext, TaskModule } from './task.js';
import { decided, failureOf, ok, type TaskFailure } from './task.js';

// The full pass runs while the old instance serves traffic and leaves the
// backup open; swap calls finish() right before it stops the instance, which
// re-reads only what changed since (the delta pass) and seals the file. What
// clients write during the delta pass itself is the only window of loss.

const fail: TaskFailure = failureOf('backup');

/** An unrestored backup newer than the instance that serves now (or than any, when nothing serves). */
async function backupOfColdInstance(ctx: TaskContext, runningVersion: string | null) {
  const stats = runningVersion
    ? await queryMemcached(ctx.transport, ctx.host.memcached.port, (client) => client.stats())
    : null;
  if (runningVersion && !stats) return null;
  // Nothing serves: whatever starts next starts after every backup.
  const startedAt = stats ? Number(stats.get('time')) - Number(stats.get('uptime')) : Number.MAX_SAFE_INTEGER;
  return unrestoredBackup(ctx.playbook.backup.dir, ctx.host.name, runningVersion ?? '', startedAt, {
    anyVersion: { target: ctx.target.version },
    trustBackup: ctx.job.trustBackup === true,
  });
}

export const backup: TaskModule<BackupDecision> = {
  name: 'backup',
  leavesFactsAlone: true,

  async preflight(ctx) {
    return backupDirProblem(ctx.playbook.backup.dir, ctx.host.name);
  },

  async plan(ctx, facts): Promise<Plan<BackupDecision>> {
    if (ctx.job.kind !== 'backup') {
      // Never replace the backup an interrupted run left by a dump of the cold instance it restarted.
      const leftover = await backupOfColdInstance(ctx, facts.runningVersion);
      if (leftover) {
        const file = { ...leftover, deltaMs: 0, summary: leftover.path };
        const now = facts.runningVersion
          ? `${facts.runningVersion} on port ${ctx.host.memcached.port} started after it — a dump now would hold less`
          : `nothing serves on port ${ctx.host.memcached.port} now`;
        return {
          status: 'ok',
          detail: `reuse ${leftover.path} (${formatCount(leftover.items)} items / ${formatBytes(leftover.valueBytes)} from ${leftover.memcachedVersion}): an interrupted run took it and never restored it, and ${now}`,
          facts,
          decision: { kind: 'reuse', file },
        };
      }
    }
    if (facts.runningVersion === null) {
      return ok(`nothing answers on port ${ctx.host.memcached.port}: no cached data to carry over`, facts);
    }
    // The package's binary at the target's version is still restarted onto the build: its data needs the backup.
    if (
      ctx.job.kind !== 'backup' &&
      facts.runningVersion === ctx.target.version &&
      upgradingFromPackage(ctx.job, facts) === null
    ) {
      return ok(`already running ${ctx.target.version}: nothing to back up`, facts);
    }
    // Refused here, so --check says it and apply never starts what it cannot finish.
    const route = backupPathFor(facts.runningVersion);
    if (route.path === null) {
      fail(
        ctx,
        `${route.why}: memplay cannot back it up, and an upgrade without a backup would empty the cache. ` +
          `If an empty cache is acceptable, restart it on the new build yourself (stop, install, start); ` +
          `memplay carries the cache on every upgrade after that`,
      );
    }
    const stats = await queryMemcached(ctx.transport, ctx.host.memcached.port, (client) => client.stats());
    if (!stats) fail(ctx, `port ${ctx.host.memcached.port} stopped answering stats`);
    const items = Number(stats.get('curr_items') ?? 0);
    const bytes = Number(stats.get('bytes') ?? 0);
    const into = `${ctx.playbook.backup.dir}/${ctx.host.name}/`;
    const text = `back up ${formatCount(items)} items / ${formatBytes(bytes)} from ${facts.runningVersion} to ${into} ${describeBackupPath(route.path)}`;
    return decided(text, facts, { kind: 'dump', items, bytes, path: route.path }, [
      { kind: 'backup', items, bytes, version: facts.runningVersion, text },
    ]);
  },

  async apply(ctx, plan) {
    const client = await connectMeta(ctx);
    let writerAborted = false;
    try {
      const running = await client.version();
      const clock = await client.serverClock();
      const writer = await createBackupWriter({
        dir: ctx.playbook.backup.dir,
        host: ctx.host.name,
        memcachedVersion: running,
        serverTime: clock.now(),
      });
      // The totals are memcached's stats from the plan: `bytes` counts keys and item
      // headers too, so the value bytes written end below it.
      const planned = plan.decision?.kind === 'dump' ? plan.decision : undefined;
      const readPath = planned?.path ?? 'meta';
      // A little room for what is written during the pass, so the table need not grow.
      const index = new CasIndex(Math.ceil((planned?.items ?? 0) * 1.05));
      let before = { written: 0, valueBytes: 0 };
      const progress = (p: { written: number; valueBytes: number }) => {
        const items = before.written + p.written;
        const bytes = before.valueBytes + p.valueBytes;
        ctx.progress('full pass', {
          items,
          bytes,
          ...(planned
            ? { itemsTotal: Math.max(planned.items, items), bytesTotal: Math.max(planned.bytes, bytes) }
            : {}),
        });
      };
      let full: Awaited<ReturnType<typeof backupFullPass>>;
      try {
        full = await backupFullPass(client, writer, index, clock, { onProgress: progress, path: readPath });
        // Complete or loud: if the crawl listed fewer items than the server held
        // throughout, crawl again; keys already taken are skipped by the index.
        const held = Math.min(full.currItemsBefore, full.currItemsAfter);
        if (full.listed + full.vanishedDuringDump < held) {
          ctx.progress(`re-crawl: listed ${full.listed} of ${held}`);
          before = { written: full.written, valueBytes: full.valueBytes };
          const again = await backupFullPass(client, writer, index, clock, {
            onProgress: progress,
            path: readPath,
          });
          full = {
            ...again,
            listed: full.listed + again.listed,
            written: full.written + again.written,
            valueBytes: full.valueBytes + again.valueBytes,
            vanishedDuringDump: full.vanishedDuringDump + again.vanishedDuringDump,
            currItemsBefore: full.currItemsBefore,
          };
        }
        // The task says the full pass is done: its records must be on disk, so a
        // full backup folder fails here, before anything is stopped.
        await writer.flush();
      } catch (error) {
        writerAborted = true;
        await writer.abort();
        client.close();
        throw error;
      }
      const shortfall = Math.max(
        0,
        Math.min(full.currItemsBefore, full.currItemsAfter) - full.listed - full.vanishedDuringDump,
      );
      const loud = [
        full.vanishedDuringDump
          ? `${formatCount(full.vanishedDuringDump)} expired or evicted during the dump`
          : '',
        full.unaddressable.length
          ? `${full.unaddressable.length} keys the ${readPath === 'meta' ? 'meta' : 'text'} protocol cannot address: ${full.unaddressable.slice(0, 5).join(', ')}`
          : '',
        shortfall ? `${formatCount(shortfall)} fewer listed than curr_items` : '',
      ].filter(Boolean);
      const fullSummary = `full pass ${formatCount(full.written)} items / ${formatBytes(full.valueBytes)} in ${formatDuration(full.durationMs)} (${full.mode} mode, ${describeBackupPath(readPath)})`;

      const fullMetadata = {
        // What a re-run needs to recognise a backup an interrupted upgrade never restored.
        purpose: ctx.job.kind,
        target: ctx.target.version,
        full: {
          listed: full.listed,
          vanishedDuringDump: full.vanishedDuringDump,
          currItemsBefore: full.currItemsBefore,
          currItemsAfter: full.currItemsAfter,
          mode: full.mode,
        },
      };

      ctx.run.backup.open = {
        async finish(): Promise<FinishedBackup> {
          let keepClient = false;
          try {
            let delta: Awaited<ReturnType<typeof backupDeltaPass>>;
            let watch: ChangeWatch | undefined;
            let watchProblem: string | undefined;
            let catchUp: CatchUpResult | undefined;
            let droppedAtOpen = 0;
            let blindFence: string | undefined;
            try {
              // Open before the delta pass: every change from here on is followed (old-side-fence.ts).
              if (ctx.job.kind !== 'backup' && readPath !== 'meta') {
                // No change stream to follow (metadump-fence.ts): a metadump of every cas right before the stop.
                blindFence = `memcached ${running} has no change stream memplay can follow: changes clients make between memplay's last look and the stop cannot be named`;
              } else if (ctx.job.kind !== 'backup') {
                try {
                  watch = await ChangeWatch.open(() => ctx.transport.openTcp(ctx.host.memcached.port));
                  await watch.ignoreConnectionsOf(client);
                  droppedAtOpen = await droppedLogEntries(client);
                } catch (error) {
                  watch?.close();
                  watch = undefined;
                  if (!(error instanceof WatchUnavailable)) throw error;
                  watchProblem = `clients' changes after the delta pass cannot be followed (${error.message}): values they change in the last moments before the stop may be restored older`;
                }
              }
              // Re-read by cas: metadump's cas tells changed keys on every path.
              delta = await backupDeltaPass(client, writer, index, clock, { path: readPath });
              if (watch) {
                ctx.progress('catch up: re-read what clients changed during the delta pass');
                catchUp = await catchUpTouchedKeys(client, writer, index, clock, watch);
              }
            } catch (error) {
              watch?.close();
              // memcached died under the delta pass: what it held is gone from
              // the host, and the full pass is the best copy left. Seal it
              // rather than throw it away; swap then starts the new build and
              // restore loads it. While memcached still answers, the old
              // instance keeps serving and the failure stands.
              const reason = errorMessage(error);
              const alive = await queryMemcached(ctx.transport, ctx.host.memcached.port, (c) => c.version());
              if (alive !== null) throw error;
              const { path, header } = await writer.finish({ ...fullMetadata, delta: { failed: reason } });
              const warning = `memcached stopped answering during the delta pass (${reason}): the backup holds the full pass, ${formatCount(header.items)} items; writes after it are lost`;
              return {
                path,
                items: header.items,
                valueBytes: header.valueBytes,
                deltaMs: 0,
                summary: `${fullSummary}; ${warning}; ${path}`,
                warning,
              };
            }
            let path: string;
            let header: BackupHeader;
            try {
              ({ path, header } = await writer.finish({
                ...fullMetadata,
                delta: {
                  changed: delta.changed,
                  added: delta.added,
                  deleted: delta.deleted,
                  durationMs: Math.round(delta.durationMs),
                },
                ...(catchUp ? { catchUp } : {}),
              }));
            } catch (error) {
              watch?.close();
              throw error;
            }
            const caughtUp = catchUp
              ? `; ${catchUp.reread} re-read and ${catchUp.tombstoned} deleted as clients changed them (${catchUp.rounds} round${catchUp.rounds === 1 ? '' : 's'})`
              : '';
            const summary = `${fullSummary}; delta pass ${delta.changed} changed, ${delta.added} new, ${delta.deleted} deleted in ${Math.round(delta.durationMs)} ms${caughtUp}; ${path}`;
            // The watch and the client stay open until the old process has exited (swap settles the fence).
            keepClient = watch !== undefined || blindFence !== undefined;
            return {
              path,
              items: header.items,
              valueBytes: header.valueBytes,
              deltaMs: delta.durationMs,
              summary,
              ...(watch && catchUp ? { fence: new OldSideFence(watch, client, index, droppedAtOpen) } : {}),
              ...(blindFence ? { fence: OldSideFence.withoutWatch(client, index, blindFence) } : {}),
              ...(watchProblem ? { warning: watchProblem } : {}),
            };
          } catch (error) {
            await writer.abort();
            throw error;
          } finally {
            if (!keepClient) client.close();
          }
        },
        async abort() {
          client.close();
          await writer.abort();
        },
      };
      if (ctx.job.kind === 'backup') {
        ctx.run.backup.sealed = await ctx.run.backup.open.finish();
        // The full pass read every item: facts leaves those gets out of the hit ratio (own-reads.ts).
        await noteOwnReads(ctx.transport, ctx.host.memcached.port, ctx.host.memcached.prefix);
        const sealed = ctx.run.backup.sealed;
        return {
          status: 'changed' as const,
          detail: sealed.summary,
          figures: { items: sealed.items, bytes: sealed.valueBytes, backup_file: sealed.path },
        };
      }
      return {
        status: 'changed' as const,
        detail: `${fullSummary}${loud.length ? `; ${loud.join('; ')}` : ''}; delta pass right before the swap`,
        // The full pass; the delta pass right before the stop adds to it (restore counts what was carried).
        figures: { items: full.written, bytes: full.valueBytes },
      };
    } catch (error) {
      if (!writerAborted) client.close();
      if (error instanceof TaskFailed) throw error;
      fail(ctx, `${errorMessage(error)} — the old instance keeps serving, nothing was stopped`);
    }
  },
};
