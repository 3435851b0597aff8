import { buildMarker } from '../facts/host-facts.js';
import { type ShellCommand, sh } from '../transport/quote.js';
import type { TaskContext } from './task.js';
import { failureOf, type TaskFailure } from './task.js';

// What every way of getting a build (compiled here, shipped from a builder of the
// same platform, unpacked from the distro's package) ends with: a tree in a staging
// directory beside the prefix, checked and renamed into `<prefix>/<version>`, so a
// failed or interrupted build never leaves a half-installed version behind.

export const stagingPrefix = '.memplay-build-';
/** The builder's tar of its installed tree while it is copied to the controller. */
export const shipPrefix = '.memplay-ship-';

export const fail: TaskFailure = failureOf('build');

export async function runStep(
  ctx: TaskContext,
  step: string,
  command: ShellCommand,
  log?: string,
): Promise<void> {
  // make's phase is reported with its file count (withCompileCount).
  if (step !== 'make') ctx.progress(step);
  const result = await ctx.transport.run(command);
  if (result.code === 0) return;
  let output = `${result.stderr}${result.stdout}`.trim();
  if (log) {
    const tail = await ctx.transport.run(sh`tail -n 15 ${log}`);
    output = tail.stdout.trim();
  }
  fail(ctx, `${step} failed (exit ${result.code}):\n${output}`);
}

/** Checks the tree's `bin/memcached -V`, marks the tree as memplay's and renames it into `<prefix>/<version>`. */
export async function checkAndMoveIntoPlace(ctx: TaskContext, tree: string): Promise<void> {
  const { version } = ctx.target;
  const prefix = ctx.host.memcached.prefix;
  const installDir = `${prefix}/${version}`;
  await runStep(
    ctx,
    'check the new binary',
    sh`${`${tree}/bin/memcached`} -V | grep -qx ${`memcached ${version}`}`,
  );
  // The marker makes the folder memplay's: only marked folders are ever pruned. Removed
  // first: a shipped tree could carry a link of that name pointing elsewhere.
  await runStep(
    ctx,
    "mark the build as memplay's",
    sh`rm -f ${`${tree}/${buildMarker}`} && : > ${`${tree}/${buildMarker}`}`,
  );
  // A directory already at installDir does not run (the plan found it broken): keep it aside.
  await runStep(
    ctx,
    'move into place',
    sh`if [ -e ${installDir} ]; then mv ${installDir} ${`${prefix}/.memplay-broken-${version}-${Date.now()}`}; fi && mv ${tree} ${installDir}`,
  );
}

export function cleanupStale(prefix: string, version: string): ShellCommand {
  // The globs must stay unquoted to expand; prefix and version are quoted around them.
  return sh`for dir in ${prefix}/${stagingPrefix}${version}-* ${prefix}/${shipPrefix}${version}-*; do [ -e "$dir" ] && rm -rf "$dir"; done; true`;
}
