import { randomBytes } from 'node:crypto';
import { TaskFailed } from '../errors.js';
import {
  buildFor,
  compareVersions,
  gatherFacts,
  type HostFacts,
  hasWorkingBuild,
} from '../facts/host-facts.js';
import { type ShellCommand, sh } from '../transport/quote.js';
import type { Transport } from '../transport/transport.js';
import { checkSourceReadOnly, SourceError, tarballName } from './source-tarball.js';
import type { Plan, TaskContext, TaskModule } from './task.js';
import { changed, ok } from './task.js';

// Builds the target from source into a staging directory beside the prefix and
// renames it into `<prefix>/<version>` only when `make install` succeeded, so a
// failed or interrupted build never leaves a half-installed version behind.

const stagingPrefix = '.memplay-build-';

// One round trip: are a C compiler, make and libevent's headers there?
const prerequisitesScript = `
missing=''
command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || missing="$missing compiler"
command -v make >/dev/null 2>&1 || missing="$missing make"
command -v tar >/dev/null 2>&1 || missing="$missing tar"
command -v xz >/dev/null 2>&1 || missing="$missing xz"
if command -v cc >/dev/null 2>&1; then
  printf '#include <event.h>\\n' | cc -E -x c - >/dev/null 2>&1 || missing="$missing libevent"
fi
printf '%s\\n' "$missing"
`;

const packageHints: Record<string, string> = {
  compiler: 'build-essential (Debian/Ubuntu) or gcc (RHEL)',
  make: 'make',
  tar: 'tar',
  xz: 'xz-utils (Debian/Ubuntu) or xz (RHEL)',
  libevent: 'libevent-dev (Debian/Ubuntu) or libevent-devel (RHEL)',
};

async function missingPrerequisites(transport: Transport): Promise<string[]> {
  const result = await transport.run(sh`sh -c ${prerequisitesScript}`);
  return result.stdout.trim().split(/\s+/).filter(Boolean);
}

function fail(ctx: TaskContext, detail: string): never {
  throw new TaskFailed(ctx.host.name, 'build', detail);
}

async function runStep(ctx: TaskContext, step: string, command: ShellCommand, log?: string): Promise<void> {
  ctx.progress(step);
  const result = await ctx.transport.run(command);
  if (result.code === 0) return;
  let output = `${result.stderr}${result.stdout}`.trim();
  if (log) {
    const tail = await ctx.transport.run(sh`tail -n 15 ${log}`);
    output = tail.stdout.trim();
  }
  fail(ctx, `${step} failed (exit ${result.code}):\n${output}`);
}

export const build: TaskModule = {
  name: 'build',

  async plan(ctx, facts): Promise<Plan> {
    const { version } = ctx.target;
    const installDir = `${ctx.host.memcached.prefix}/${version}`;
    if (hasWorkingBuild(facts, version)) return ok(`${version} already built at ${installDir}`, facts);
    let download: string;
    try {
      download = await checkSourceReadOnly(ctx.target);
    } catch (error) {
      if (error instanceof SourceError) fail(ctx, error.message);
      throw error;
    }
    const missing = await missingPrerequisites(ctx.transport);
    if (missing.length > 0) {
      fail(
        ctx,
        `cannot build on this host: missing ${missing.join(', ')} — install ${missing.map((m) => packageHints[m] ?? m).join('; ')}`,
      );
    }
    const prune = buildsToRemove(ctx, facts);
    const pruning = prune.length
      ? `; then remove old builds ${prune.join(', ')} (keep_builds ${ctx.host.memcached.keepBuilds})`
      : '';
    const broken = buildFor(facts, version);
    const replacing = broken ? ` (replacing ${installDir}, which does not run)` : '';
    const configure = ctx.target.configure.length ? ` with ${ctx.target.configure.join(' ')}` : '';
    return changed(
      `${download}build ${version} from ${tarballName(ctx.target)}${configure} into ${installDir}${replacing}${pruning}`,
      {
        ...facts,
        builds: [
          ...facts.builds.filter((b) => b.dir !== version && !prune.includes(b.dir)),
          { dir: version, reportedVersion: version },
        ],
      },
    );
  },

  async apply(ctx): Promise<{ status: 'changed'; detail: string }> {
    const started = Date.now();
    const { version, sha256, configure } = ctx.target;
    const prefix = ctx.host.memcached.prefix;
    const installDir = `${prefix}/${version}`;
    const staging = `${prefix}/${stagingPrefix}${version}-${randomBytes(4).toString('hex')}`;
    const tarball = tarballName(ctx.target);
    const log = `${staging}/build.log`;

    let localTarball: string;
    try {
      localTarball = await ctx.shared.localTarball();
    } catch (error) {
      if (error instanceof SourceError) fail(ctx, error.message);
      throw error;
    }

    // Staging directories of builds that crashed or were interrupted earlier.
    await ctx.transport.run(cleanupStale(prefix, version));
    try {
      await runStep(ctx, 'create staging directory', sh`mkdir -p ${staging}/src`);
      ctx.progress(`upload ${tarball}`);
      await ctx.transport.upload(localTarball, `${staging}/${tarball}`, (p) =>
        ctx.progress(`upload ${tarball} ${Math.round((100 * p.transferred) / Math.max(p.total, 1))}%`),
      );
      await runStep(
        ctx,
        'verify sha256 on the host',
        sh`cd ${staging} && printf '%s  %s\n' ${sha256} ${tarball} | sha256sum -c --status`,
      );
      await runStep(
        ctx,
        'unpack',
        sh`tar -xf ${`${staging}/${tarball}`} -C ${`${staging}/src`} --strip-components=1`,
      );
      await runStep(
        ctx,
        'configure',
        sh`cd ${`${staging}/src`} && ./configure ${['--prefix', installDir, ...configure]} >${log} 2>&1`,
        log,
      );
      await runStep(
        ctx,
        'make',
        sh`cd ${`${staging}/src`} && make -j"$(nproc 2>/dev/null || echo 2)" >>${log} 2>&1`,
        log,
      );
      await runStep(
        ctx,
        'make install',
        sh`cd ${`${staging}/src`} && make install DESTDIR=${`${staging}/root`} >>${log} 2>&1`,
        log,
      );
      await runStep(
        ctx,
        'check the new binary',
        sh`${`${staging}/root${installDir}/bin/memcached`} -V | grep -qx ${`memcached ${version}`}`,
      );
      // A directory already at installDir does not run (the plan found it broken): keep it aside.
      await runStep(
        ctx,
        'move into place',
        sh`if [ -e ${installDir} ]; then mv ${installDir} ${`${prefix}/.memplay-broken-${version}-${Date.now()}`}; fi && mv ${`${staging}/root${installDir}`} ${installDir}`,
      );
    } finally {
      await ctx.transport.run(sh`rm -rf ${staging}`);
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    // The plan's rule on the host as it is now (the new build in place).
    const removable = buildsToRemove(ctx, await gatherFacts(ctx.host, ctx.transport));
    if (removable.length > 0) {
      ctx.progress(`remove old builds ${removable.join(', ')}`);
      const removed = await ctx.transport.run(sh`cd ${prefix} && rm -rf -- ${removable}`);
      if (removed.code !== 0) {
        return {
          status: 'changed',
          detail: `built ${version} in ${seconds}s; removing old builds ${removable.join(', ')} failed: ${removed.stderr.trim()}`,
        };
      }
      return {
        status: 'changed',
        detail: `built ${version} in ${seconds}s; removed old builds ${removable.join(', ')}`,
      };
    }
    return { status: 'changed', detail: `built ${version} in ${seconds}s` };
  },
};

/** Builds past keep_builds: never the target, nor what `current` or `previous` name; the newest versions stay. */
function buildsToRemove(ctx: TaskContext, facts: HostFacts): string[] {
  const kept = new Set([ctx.target.version, facts.currentLink, facts.previousLink]);
  const others = facts.builds
    .map((b) => b.dir)
    .filter((dir) => !kept.has(dir))
    .sort(compareVersions)
    .reverse();
  return others.slice(ctx.host.memcached.keepBuilds);
}

function cleanupStale(prefix: string, version: string): ShellCommand {
  // The glob must stay unquoted to expand; prefix and version are quoted around it.
  return sh`for dir in ${prefix}/${stagingPrefix}${version}-*; do [ -d "$dir" ] && rm -rf "$dir"; done; true`;
}
