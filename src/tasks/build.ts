import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { HostUnreachable, TaskFailed } from '../errors.js';
import { buildFor, compareVersions, type HostFacts, hasWorkingBuild } from '../facts/host-facts.js';
import { fileSha256 } from '../file-sha256.js';
import { type ShellCommand, sh } from '../transport/quote.js';
import { describeTransfer, type TransferMethod, type Transport } from '../transport/transport.js';
import { formatBytes, formatDuration } from '../units.js';
import { withCompileCount } from './build-progress.js';
import { type BuildRole, buildFingerprint, planBuildSharing, type ShippableBuild } from './build-sharing.js';
import { checkSourceReadOnly, localTarballSize, SourceError, tarballName } from './source-tarball.js';
import type { BuildDecision, Plan, PlanAction, TaskContext, TaskModule } from './task.js';
import { decided, failureOf, ok, type TaskFailure } from './task.js';

// Builds the target from source into a staging directory beside the prefix and
// renames it into `<prefix>/<version>` only when `make install` succeeded, so a
// failed or interrupted build never leaves a half-installed version behind.
// Hosts of one platform share a build (build-sharing.ts): one compiles, the others
// receive its installed tree, checked by sha256 and `-V`, through the same staging
// directory and rename.

const stagingPrefix = '.memplay-build-';
/** The builder's tar of its installed tree while it is copied to the controller. */
const shipPrefix = '.memplay-ship-';

// One round trip: are a C compiler, make and libevent's headers there (and OpenSSL's,
// for a build with --enable-tls, whose configure would otherwise stop on them)?
const prerequisitesScript = `
missing=''
command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || missing="$missing compiler"
command -v make >/dev/null 2>&1 || missing="$missing make"
command -v tar >/dev/null 2>&1 || missing="$missing tar"
command -v xz >/dev/null 2>&1 || missing="$missing xz"
if command -v cc >/dev/null 2>&1; then
  printf '#include <event.h>\\n' | cc -E -x c - >/dev/null 2>&1 || missing="$missing libevent"
  if [ "$1" = tls ]; then
    printf '#include <openssl/ssl.h>\\n' | cc -E -x c - >/dev/null 2>&1 || missing="$missing openssl"
  fi
fi
printf '%s\\n' "$missing"
`;

const packageHints: Record<string, string> = {
  compiler: 'build-essential (Debian/Ubuntu) or gcc (RHEL)',
  make: 'make',
  tar: 'tar',
  xz: 'xz-utils (Debian/Ubuntu) or xz (RHEL)',
  libevent: 'libevent-dev (Debian/Ubuntu) or libevent-devel (RHEL)',
  openssl: 'libssl-dev (Debian/Ubuntu) or openssl-devel (RHEL), for --enable-tls',
};

async function missingPrerequisites(transport: Transport, configure: readonly string[]): Promise<string[]> {
  const tls = configure.includes('--enable-tls') ? 'tls' : 'plain';
  const result = await transport.run(sh`sh -c ${prerequisitesScript} memplay-prerequisites ${tls}`);
  return result.stdout.trim().split(/\s+/).filter(Boolean);
}

const fail: TaskFailure = failureOf('build');

async function runStep(ctx: TaskContext, step: string, command: ShellCommand, log?: string): Promise<void> {
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

export const build: TaskModule<BuildDecision> = {
  name: 'build',

  async plan(ctx, facts): Promise<Plan<BuildDecision>> {
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
    const role = roleOf(ctx);
    if (role.kind !== 'receive') {
      const missing = await missingPrerequisites(ctx.transport, ctx.target.configure);
      if (missing.length > 0) {
        fail(
          ctx,
          `cannot build on this host: missing ${missing.join(', ')} — install ${missing.map((m) => packageHints[m] ?? m).join('; ')}`,
        );
      }
    }
    const transfer = await transferOf(ctx);
    // SFTP is the rule and goes without saying; a host without it is named, so --check shows it.
    const via = transfer === 'exec-stream' ? `; transfer: ${describeTransfer(transfer)}` : '';
    const prune = buildsToRemove(ctx, facts);
    const pruning = prune.length
      ? `; then remove old builds ${prune.join(', ')} (keep_builds ${ctx.host.memcached.keepBuilds})`
      : '';
    const broken = buildFor(facts, version);
    const replacing = broken ? ` (replacing ${installDir}, which does not run)` : '';
    const configure = ctx.target.configure.length ? ` with ${ctx.target.configure.join(' ')}` : '';
    const after = {
      ...facts,
      builds: [
        ...facts.builds.filter((b) => b.dir !== version && !prune.includes(b.dir)),
        { dir: version, reportedVersion: version },
      ],
    };
    const pruneAction: PlanAction[] = prune.length
      ? [
          {
            kind: 'prune',
            text: `remove old builds ${prune.join(', ')} (keep_builds ${ctx.host.memcached.keepBuilds})`,
          },
        ]
      : [];
    const decision: BuildDecision = { role, prune, transfer };
    if (role.kind === 'receive') {
      return decided(
        `ship ${version} built on ${role.builder} (same platform: ${role.platform}) into ${installDir}${replacing}${pruning}${via}`,
        after,
        decision,
        [
          {
            kind: 'ship',
            version,
            from: role.builder,
            transfer,
            text: `receive ${version} built on ${role.builder} (same platform) into ${installDir}${replacing}${via}`,
          },
          ...pruneAction,
        ],
      );
    }
    const receivers = role.kind === 'compile' ? role.receivers : [];
    const shipping =
      role.kind === 'compile' && receivers.length > 0
        ? `; ship it to ${receivers.join(', ')} (same platform: ${role.platform})`
        : '';
    const tarball = tarballName(ctx.target);
    const size = await localTarballSize(ctx.target);
    return decided(
      `${download}build ${version} from ${tarball}${configure} into ${installDir}${replacing}${shipping}${pruning}${via}`,
      after,
      decision,
      [
        ...(ctx.target.source.kind === 'url' && download
          ? [{ kind: 'download' as const, text: `download ${ctx.target.source.url}` }]
          : []),
        {
          kind: 'compile',
          version,
          ...(size === null ? {} : { bytes: size }),
          transfer,
          text: `build ${version} from ${tarball}${size === null ? '' : ` (${formatBytes(size)})`}${configure} into ${installDir}${replacing}${receivers.length ? `, then ship it to ${receivers.join(', ')}` : ''}${via}`,
        },
        ...pruneAction,
      ],
    );
  },

  async apply(ctx, plan): Promise<{ status: 'changed'; detail: string }> {
    const { version } = ctx.target;
    if (!plan.decision) fail(ctx, 'build was applied without a plan that decided its role');
    const { role, prune, transfer } = plan.decision;
    const key = buildFingerprint(plan.facts.platform, ctx.target);
    let detail: string;
    if (role.kind === 'receive' && key !== null) {
      detail = await receiveOrCompile(ctx, key, role.builder);
    } else {
      let took: string;
      try {
        took = await compile(ctx);
      } catch (error) {
        if (key !== null)
          ctx.shared.builds.publish(key, ctx.host.name, new Error(`compiling on ${ctx.host.name} failed`));
        throw error;
      }
      detail = `built ${version} in ${took}`;
      if (role.kind === 'compile' && role.receivers.length > 0 && key !== null) {
        const receivers = role.receivers.join(', ');
        try {
          const packed = await pack(ctx);
          ctx.shared.builds.publish(key, ctx.host.name, packed);
          detail += `, shipped to ${receivers}`;
        } catch (error) {
          if (error instanceof HostUnreachable) throw error;
          const why = error instanceof TaskFailed ? error.detail : (error as Error).message;
          ctx.shared.builds.publish(
            key,
            ctx.host.name,
            new Error(`packing the build on ${ctx.host.name} failed: ${why}`),
          );
          detail += `; packing it for ${receivers} failed: ${why}`;
        }
      }
    }
    if (transfer === 'exec-stream') detail += `; transfer: ${describeTransfer(transfer)}`;
    return { status: 'changed', detail: await pruneOldBuilds(ctx, detail, prune) };
  },
};

/**
 * How the tarball or the shipped tree would reach this host (and a packed tree
 * leave it): read-only, an SFTP session opened and closed. A host that refuses
 * SFTP is said to use the exec stream here, not found out at the upload.
 */
async function transferOf(ctx: TaskContext): Promise<TransferMethod> {
  try {
    return await ctx.transport.transferMethod();
  } catch (error) {
    if (error instanceof HostUnreachable) throw error;
    fail(ctx, `cannot tell how files would reach this host: ${(error as Error).message}`);
  }
}

function roleOf(ctx: TaskContext): BuildRole {
  return planBuildSharing(ctx.peers).get(ctx.host.name) ?? { kind: 'compile', receivers: [], platform: null };
}

/** Configure, make, make install into staging, then rename into place. Returns how long it took, for people. */
async function compile(ctx: TaskContext): Promise<string> {
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
      ctx.progress(`upload ${tarball}`, { bytes: p.transferred, bytesTotal: p.total }),
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
    await withCompileCount(ctx, `${staging}/src`, log, () =>
      runStep(
        ctx,
        'make',
        sh`cd ${`${staging}/src`} && make -j"$(nproc 2>/dev/null || echo 2)" >>${log} 2>&1`,
        log,
      ),
    );
    await runStep(
      ctx,
      'make install',
      sh`cd ${`${staging}/src`} && make install DESTDIR=${`${staging}/root`} >>${log} 2>&1`,
      log,
    );
    await checkAndMoveIntoPlace(ctx, `${staging}/root${installDir}`);
  } finally {
    await ctx.transport.run(sh`rm -rf ${staging}`);
  }
  return formatDuration(Date.now() - started);
}

async function checkAndMoveIntoPlace(ctx: TaskContext, tree: string): Promise<void> {
  const { version } = ctx.target;
  const prefix = ctx.host.memcached.prefix;
  const installDir = `${prefix}/${version}`;
  await runStep(
    ctx,
    'check the new binary',
    sh`${`${tree}/bin/memcached`} -V | grep -qx ${`memcached ${version}`}`,
  );
  // A directory already at installDir does not run (the plan found it broken): keep it aside.
  await runStep(
    ctx,
    'move into place',
    sh`if [ -e ${installDir} ]; then mv ${installDir} ${`${prefix}/.memplay-broken-${version}-${Date.now()}`}; fi && mv ${tree} ${installDir}`,
  );
}

/**
 * On the builder: tars the installed tree, checksums it there, copies it to the
 * controller (streamed to a file, so memory does not grow with it) and checks the
 * checksum again on the copy.
 */
async function pack(ctx: TaskContext): Promise<ShippableBuild> {
  const { version } = ctx.target;
  const prefix = ctx.host.memcached.prefix;
  const remoteTar = `${prefix}/${shipPrefix}${version}-${randomBytes(4).toString('hex')}.tar`;
  ctx.progress(`pack ${version} for the hosts of the same platform`);
  try {
    const packed = await ctx.transport.run(
      sh`tar -C ${`${prefix}/${version}`} -cf ${remoteTar} . && sha256sum ${remoteTar}`,
    );
    if (packed.code !== 0)
      fail(ctx, `tar of ${prefix}/${version} failed (exit ${packed.code}): ${packed.stderr.trim()}`);
    const sha256 = /^[0-9a-f]{64}/.exec(packed.stdout)?.[0];
    if (!sha256) fail(ctx, `sha256sum printed no checksum for ${remoteTar}`);
    const local = await ctx.shared.builds.scratchFile(`${ctx.host.name}-${version}.tar`);
    ctx.progress(`copy the packed ${version} to the controller`);
    await ctx.transport.download(remoteTar, local);
    const arrived = await fileSha256(local);
    if (arrived !== sha256) {
      fail(ctx, `the packed tree's sha256 is ${arrived} on the controller, ${sha256} on ${ctx.host.name}`);
    }
    return { builder: ctx.host.name, path: local, sha256, bytes: (await stat(local)).size };
  } finally {
    await ctx.transport.run(sh`rm -f ${remoteTar}`);
  }
}

/**
 * A receiver: waits for the builder's packed tree, ships it here and checks it; if
 * anything on the way fails, compiles here instead and says why.
 */
async function receiveOrCompile(ctx: TaskContext, key: string, builder: string): Promise<string> {
  const { version } = ctx.target;
  const started = Date.now();
  let why: string;
  try {
    ctx.progress(`wait for ${version} from ${builder}`);
    const packed = await ctx.shared.builds.waitFor(key, builder);
    await receive(ctx, packed);
    return `received ${version} built on ${builder} in ${formatDuration(Date.now() - started)} (tar sha256 ${packed.sha256.slice(0, 12)}… verified here)`;
  } catch (error) {
    if (error instanceof HostUnreachable) throw error;
    why = error instanceof TaskFailed ? error.detail : (error as Error).message;
  }
  ctx.progress(`shipping from ${builder} failed: compile here`);
  try {
    const took = await compile(ctx);
    return `shipping from ${builder} failed (${why}); built ${version} here in ${took}`;
  } catch (error) {
    if (error instanceof TaskFailed) {
      fail(ctx, `shipping from ${builder} failed (${why}); compiling here failed too: ${error.detail}`);
    }
    throw error;
  }
}

async function receive(ctx: TaskContext, packed: ShippableBuild): Promise<void> {
  const { version } = ctx.target;
  const prefix = ctx.host.memcached.prefix;
  const staging = `${prefix}/${stagingPrefix}${version}-${randomBytes(4).toString('hex')}`;
  const tar = `${staging}/tree.tar`;
  await ctx.transport.run(cleanupStale(prefix, version));
  try {
    await runStep(ctx, 'create staging directory', sh`mkdir -p ${staging}/root`);
    ctx.progress(`upload ${version} built on ${packed.builder}`);
    await ctx.transport.upload(packed.path, tar, (p) =>
      ctx.progress(`upload ${version} built on ${packed.builder}`, {
        bytes: p.transferred,
        bytesTotal: p.total,
      }),
    );
    await runStep(
      ctx,
      'verify sha256 of the shipped tree',
      sh`cd ${staging} && printf '%s  %s\n' ${packed.sha256} tree.tar | sha256sum -c --status`,
    );
    await runStep(ctx, 'unpack the shipped tree', sh`tar -xf ${tar} -C ${`${staging}/root`}`);
    await checkAndMoveIntoPlace(ctx, `${staging}/root`);
  } finally {
    await ctx.transport.run(sh`rm -rf ${staging}`);
  }
}

/** The old builds the plan named, once the new one is in place. */
async function pruneOldBuilds(
  ctx: TaskContext,
  detail: string,
  removable: readonly string[],
): Promise<string> {
  const prefix = ctx.host.memcached.prefix;
  if (removable.length === 0) return detail;
  ctx.progress(`remove old builds ${removable.join(', ')}`);
  const removed = await ctx.transport.run(sh`cd ${prefix} && rm -rf -- ${removable}`);
  if (removed.code !== 0) {
    return `${detail}; removing old builds ${removable.join(', ')} failed: ${removed.stderr.trim()}`;
  }
  return `${detail}; removed old builds ${removable.join(', ')}`;
}

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
  // The globs must stay unquoted to expand; prefix and version are quoted around them.
  return sh`for dir in ${prefix}/${stagingPrefix}${version}-* ${prefix}/${shipPrefix}${version}-*; do [ -e "$dir" ] && rm -rf "$dir"; done; true`;
}
