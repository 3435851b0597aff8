import { errorMessage, HostUnreachable, TaskFailed } from '../errors.js';
import { buildFor, compareVersions, type HostFacts, hasWorkingBuild } from '../facts/host-facts.js';
import type { HostConfig } from '../playbook/types.js';
import { sh } from '../transport/quote.js';
import { describeTransfer, type TransferMethod, type Transport } from '../transport/transport.js';
import { formatBytes, formatDuration } from '../units.js';
import {
  type BuildOrigin,
  type BuildRole,
  buildFingerprint,
  missingTools,
  missingToolsText,
  planBuildSharing,
  type ShippableBuild,
} from './build-sharing.js';
import { compile, missingPrerequisites, pack, receive } from './build-steps.js';
import { describeUnpack, planPackageUnpack, unpackPackage } from './package-build.js';
import { checkPrebuilt, prebuiltLabel } from './prebuilt-tree.js';
import { checkSourceReadOnly, localTarballSize, SourceError, tarballName } from './source-tarball.js';
import type { BuildDecision, Plan, PlanAction, TaskContext, TaskModule } from './task.js';
import { decided, failureOf, ok, type TaskFailure } from './task.js';

// The build task decides where each host's build comes from (build-sharing.ts):
// compiled here (and shipped to the hosts of the same platform), received from the
// host that compiled it, or shipped from target.build_on's build host or
// target.prebuilt's tree. The mechanics of each are build-steps.ts.

const fail: TaskFailure = failureOf('build');

export const build: TaskModule<BuildDecision> = {
  name: 'build',

  async plan(ctx, facts): Promise<Plan<BuildDecision>> {
    const { version } = ctx.target;
    const installDir = `${ctx.host.memcached.prefix}/${version}`;
    if (hasWorkingBuild(facts, version)) return ok(`${version} already built at ${installDir}`, facts);
    const { source } = ctx.target;
    // target.package: no compiling, no sharing; the host's own archive (package-build.ts).
    const fromPackage = source.kind === 'package' ? await planPackageUnpack(ctx, source) : undefined;
    const role: BuildRole = fromPackage
      ? { kind: 'compile', receivers: [], platform: null }
      : await roleOf(ctx, facts);
    const prebuilt = role.kind === 'shipped' && role.from.kind === 'prebuilt' ? role.from : undefined;
    let download = '';
    try {
      // A prebuilt tree needs no source; every other way compiles it somewhere.
      if (prebuilt) await checkPrebuilt(prebuilt);
      else if (!fromPackage) download = await checkSourceReadOnly(ctx.target);
    } catch (error) {
      if (error instanceof SourceError) fail(ctx, error.message);
      throw error;
    }
    if (!fromPackage && role.kind === 'compile' && facts.platform.missingBuildTools === undefined) {
      const missing = missingTools(await missingPrerequisites(ctx.transport), ctx.target.configure);
      if (missing.length > 0) fail(ctx, `cannot build on this host: ${missingToolsText(missing)}`);
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
        { dir: version, reportedVersion: version, madeByMemplay: true },
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
    const decision: BuildDecision = { role, prune, transfer, ...(fromPackage && { fromPackage }) };
    if (fromPackage) {
      return decided(
        `unpack ${version} ${describeUnpack(fromPackage)} into ${installDir}${replacing}${pruning}`,
        after,
        decision,
        [
          {
            kind: 'unpack',
            version,
            text: `unpack ${version} ${describeUnpack(fromPackage)} from ${fromPackage.archive} into ${installDir}${replacing}`,
          },
          ...pruneAction,
        ],
      );
    }
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
    if (role.kind === 'shipped') {
      const from = role.from.kind === 'prebuilt' ? prebuiltLabel(role.from) : role.from.label;
      const words =
        role.from.kind === 'prebuilt'
          ? `${version} from prebuilt tarball ${role.from.file} (sha256 ${role.from.sha256.slice(0, 12)}…, checked on the controller and here) into ${installDir}${replacing}; bin/memcached -V must print ${version} here`
          : `${version} shipped from ${role.from.label} (compiled there; same platform: ${role.platform}) into ${installDir}${replacing}`;
      return decided(`${download}${words}${pruning}${via}`, after, decision, [
        ...(download && ctx.target.source.kind === 'url'
          ? [{ kind: 'download' as const, text: `download ${ctx.target.source.url}` }]
          : []),
        { kind: 'ship', version, from, transfer, text: `${words}${via}` },
        ...pruneAction,
      ]);
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
    const { role, prune, transfer, fromPackage } = plan.decision;
    const key = buildFingerprint(plan.facts.platform, ctx.target);
    let detail: string;
    if (fromPackage) {
      detail = await unpackPackage(ctx, fromPackage);
    } else if (role.kind === 'shipped') {
      detail = await receiveShipped(ctx, role.from, key);
    } else if (role.kind === 'receive' && key !== null) {
      detail = await receiveOrCompile(ctx, key, role.builder, role.canCompile !== false);
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
    if (transfer === 'exec-stream' && !fromPackage) detail += `; transfer: ${describeTransfer(transfer)}`;
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

/**
 * This host's part in the batch's builds (build-sharing.ts), with target.build_on's
 * platform read first (its connection opened, read-only). A host that nothing can
 * build for fails here, in --check too, before anything changes anywhere.
 */
async function roleOf(ctx: TaskContext, facts: HostFacts): Promise<BuildRole> {
  const self = { name: ctx.host.name, facts, target: ctx.target };
  const peers = ctx.peers.some((peer) => peer.name === self.name) ? ctx.peers : [...ctx.peers, self];
  const buildHost = await ctx.shared.buildHost?.platform();
  const prebuilt = ctx.target.prebuilt;
  const assignment = planBuildSharing(peers, {
    ...(buildHost && { buildHost }),
    ...(prebuilt && { prebuilt }),
  }).get(self.name) ?? { kind: 'compile', receivers: [], platform: null };
  if (assignment.kind === 'cannot') fail(ctx, assignment.reason);
  return assignment;
}

/**
 * A tree compiled on target.build_on's build host (once per run, whichever host
 * asks first) or target.prebuilt's, relayed by the controller and unpacked here.
 * No fallback to compiling here: the playbook said where builds come from.
 */
async function receiveShipped(
  ctx: TaskContext,
  from: BuildOrigin,
  fingerprint: string | null,
): Promise<string> {
  const { version } = ctx.target;
  const started = Date.now();
  const label = from.kind === 'prebuilt' ? `prebuilt tarball ${from.file}` : from.label;
  let packed: ShippableBuild;
  try {
    if (from.kind === 'prebuilt') {
      if (!ctx.shared.prebuilt) throw new Error('the run has no prebuilt tree');
      packed = await ctx.shared.prebuilt();
    } else {
      const service = ctx.shared.buildHost;
      if (!service) throw new Error('the run has no build host');
      ctx.progress(`wait for ${version} from ${from.label}`);
      packed = await service.shippable(fingerprint ?? version, (transport, host) =>
        compileOnBuildHost(ctx, transport, host),
      );
    }
  } catch (error) {
    // The build host's failures (unreachable included) are this host's build failing, not this host lost.
    const why = error instanceof TaskFailed ? error.detail : errorMessage(error);
    fail(ctx, `${label}: ${why}`);
  }
  await receive(ctx, packed);
  const took = formatDuration(Date.now() - started);
  return from.kind === 'prebuilt'
    ? `installed ${version} from prebuilt tarball ${from.file} in ${took} (sha256 ${packed.sha256.slice(0, 12)}… verified here, bin/memcached -V ${version})`
    : `received ${version} compiled on ${from.label} in ${took} (tar sha256 ${packed.sha256.slice(0, 12)}… verified here)`;
}

/**
 * On the build host: compile into a temporary folder there (as a host compiles into
 * its prefix, staging and all), pack the tree to the controller, remove the folder.
 */
async function compileOnBuildHost(
  ctx: TaskContext,
  transport: Transport,
  host: HostConfig,
): Promise<ShippableBuild> {
  const made = await transport.run(sh`mktemp -d "\${TMPDIR:-/tmp}/memplay-build.XXXXXX"`);
  const work = made.stdout.trim();
  if (made.code !== 0 || !work.startsWith('/')) {
    throw new Error(`mktemp -d failed (exit ${made.code}): ${made.stderr.trim()}`);
  }
  const builder: TaskContext = {
    ...ctx,
    transport,
    host: { ...host, memcached: { ...host.memcached, prefix: work } },
  };
  try {
    await compile(builder);
    return await pack(builder);
  } finally {
    await transport.run(sh`rm -rf ${work}`);
  }
}

/**
 * A receiver: waits for the builder's packed tree, ships it here and checks it; if
 * anything on the way fails, compiles here instead and says why.
 */
async function receiveOrCompile(
  ctx: TaskContext,
  key: string,
  builder: string,
  canCompileHere: boolean,
): Promise<string> {
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
  if (!canCompileHere) {
    const missing = missingTools(
      ctx.peers.find((p) => p.name === ctx.host.name)?.facts.platform.missingBuildTools,
      ctx.target.configure,
    );
    fail(
      ctx,
      `shipping from ${builder} failed (${why}); this host cannot compile for itself: ${missingToolsText(missing)}`,
    );
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
  // Only what memplay installed (its marker, a version for a name): a folder someone
  // else put under the prefix is never removed, whatever it holds.
  const others = facts.builds
    .filter((b) => b.madeByMemplay && /^\d+\.\d+/.test(b.dir))
    .map((b) => b.dir)
    .filter((dir) => !kept.has(dir))
    .sort(compareVersions)
    .reverse();
  return others.slice(ctx.host.memcached.keepBuilds);
}
