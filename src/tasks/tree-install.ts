import { buildMarker } from '../facts/host-facts.js';
import { sh } from '../transport/quote.js';
import type { TaskContext, TaskFailure } from './task.js';
import { failureOf } from './task.js';

// How every build ends, in one round trip: a shipped tree's sha256 checked and the tree
// unpacked, then its `bin/memcached -V` checked, the folder marked as memplay's, renamed
// into `<prefix>/<version>`, and the staging folder removed. Each step was its own SSH
// command before: at 500 hosts, 499 receivers × 8 commands under forks 50 took 90 s of
// the upgrade, most of it sshd starting a shell per command on loaded hosts.
//
// The script reports each step before running it (`step\t<name>` on stdout), and the
// step's own output goes to stderr, so a failure says which step and why, in the same
// words as when each step was a command of its own.

const fail: TaskFailure = failureOf('build');

/** The steps, as they are reported (progress and failures); the script double-quotes them, so no `"`, `$` or backquote. */
export const installSteps = {
  verify: 'verify sha256 of the shipped tree',
  unpack: 'unpack the shipped tree',
  check: 'check the new binary',
  mark: "mark the build as memplay's",
  move: 'move into place',
} as const;

// $1 tree, $2 install dir, $3 version, $4 where a broken install dir is moved aside,
// $5 staging folder (removed on exit, whatever happens), $6 the shipped tar's name in
// staging (empty: the tree is already there), $7 its sha256.
const installScript = `
tree=$1; install=$2; version=$3; aside=$4; staging=$5; tar=$6; sum=$7
trap 'rm -rf "$staging" && printf "cleaned\\n"' EXIT
step() { printf 'step\\t%s\\n' "$1"; }
if [ -n "$tar" ]; then
  step "${installSteps.verify}"
  (cd "$staging" && printf '%s  %s\\n' "$sum" "$tar" | sha256sum -c --status) >&2 || exit
  step "${installSteps.unpack}"
  mkdir -p "$tree" && tar -xf "$staging/$tar" -C "$tree" >&2 || exit
fi
step "${installSteps.check}"
printed=$("$tree/bin/memcached" -V 2>&1)
code=$?
if [ "$code" != 0 ] || [ "$(printf '%s\\n' "$printed" | head -n 1)" != "memcached $version" ]; then
  printf 'version-exit\\t%s\\n' "$code"
  printf '%s' "$printed" >&2
  exit 97
fi
step "${installSteps.mark}"
rm -f "$tree/${buildMarker}" && : > "$tree/${buildMarker}" || exit
step "${installSteps.move}"
if [ -e "$install" ]; then mv "$install" "$aside" >&2 || exit; fi
mv "$tree" "$install" >&2 || exit
printf 'installed\\n'
`;

/** The tree to install, and where it comes from. */
export interface TreeToInstall {
  /** The folder holding the tree (its `bin/memcached`), inside `staging`. */
  readonly tree: string;
  /** Removed when the script ends, installed or not. */
  readonly staging: string;
  /** A shipped tree: its tar's name in `staging` and the sha256 the controller relayed. */
  readonly shipped?: { readonly tarName: string; readonly sha256: string };
}

/**
 * Installs the tree into `<prefix>/<version>` in one command (see above). Returns
 * whether the staging folder is gone: the caller removes it otherwise (the command
 * never ran, or the connection broke).
 */
export async function installTree(
  ctx: TaskContext,
  what: TreeToInstall,
): Promise<{ stagingRemoved: boolean }> {
  const { version } = ctx.target;
  const prefix = ctx.host.memcached.prefix;
  const installDir = `${prefix}/${version}`;
  // A directory already at installDir does not run (the plan found it broken): keep it aside.
  const aside = `${prefix}/.memplay-broken-${version}-${Date.now()}`;
  ctx.progress(
    what.shipped
      ? `${installSteps.verify}, unpack, check and move into place`
      : `${installSteps.check} and move into place`,
  );
  const result = await ctx.transport.run(
    sh`sh -c ${installScript} memplay-install ${what.tree} ${installDir} ${version} ${aside} ${what.staging} ${what.shipped?.tarName ?? ''} ${what.shipped?.sha256 ?? ''}`,
  );
  const lines = result.stdout.split('\n');
  const stagingRemoved = lines.includes('cleaned');
  if (result.code === 0 && lines.includes('installed')) return { stagingRemoved };
  const step = lines.findLast((line) => line.startsWith('step\t'))?.slice('step\t'.length) ?? 'install';
  const versionExit = lines.find((line) => line.startsWith('version-exit\t'))?.slice('version-exit\t'.length);
  if (step === installSteps.check && versionExit !== undefined) {
    // What -V printed goes into the failure: a tree of another version, or one that
    // does not run here (a shared library missing), says which.
    const printed = JSON.stringify(result.stderr.trim().slice(0, 300));
    fail(
      ctx,
      `${installSteps.check} failed: bin/memcached -V ${versionExit === '0' ? 'printed' : `exited ${versionExit}:`} ${printed}, not "memcached ${version}"`,
    );
  }
  fail(ctx, `${step} failed (exit ${result.code}):\n${result.stderr.trim()}`);
}
