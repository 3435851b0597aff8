import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { buildToolsScript } from '../facts/host-facts.js';
import { fileSha256 } from '../file-sha256.js';
import { type ShellCommand, sh } from '../transport/quote.js';
import type { Transport } from '../transport/transport.js';
import { formatDuration } from '../units.js';
import { withCompileCount } from './build-progress.js';
import type { ShippableBuild } from './build-sharing.js';
import { SourceError, tarballName } from './source-tarball.js';
import type { TaskContext, TaskFailure } from './task.js';
import { failureOf } from './task.js';
import { installTree } from './tree-install.js';

// How a tree is made on one host, whoever it is for: compiled from source into a
// staging directory beside the prefix and renamed into `<prefix>/<version>` only when
// its install succeeded, so a failed or interrupted build never leaves a
// half-installed version behind; packed and copied to the controller; or received
// (shipped from a builder or prebuilt), checked by sha256 and `-V`, through the same
// staging directory and rename. build.ts decides which of these a host does.

export const fail: TaskFailure = failureOf('build');

export const stagingPrefix = '.memplay-build-';
/** What compile makes and installs: the server binary, nothing else (see compile). */
export const makeTarget = 'memcached';
export const installTarget = 'install-binPROGRAMS';
/** The builder's tar of its installed tree while it is copied to the controller. */
const shipPrefix = '.memplay-ship-';

// One round trip: are a C compiler, make and libevent's headers there? Asked only
// of a host whose facts did not say (the fact probe asks the same, host-facts.ts).
const prerequisitesScript = `\n${buildToolsScript.replace('missing-build-tools\\t', '')}`;

export async function missingPrerequisites(transport: Transport): Promise<string[]> {
  const result = await transport.run(sh`sh -c ${prerequisitesScript}`);
  return result.stdout.trim().split(/\s+/).filter(Boolean);
}

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

/** Configure, make the server, install its binary into staging, then rename into place. Returns how long it took, for people. */
export async function compile(ctx: TaskContext): Promise<string> {
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

  let stagingLeft = true;
  try {
    // Staging directories of builds that crashed or were interrupted earlier go first.
    await runStep(
      ctx,
      'create staging directory',
      sh`${cleanupStale(prefix, version)}; mkdir -p ${staging}/src`,
    );
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
    // Only the server: `make` alone builds `all`, whose noinst programs (memcached-debug,
    // testapp, sizes, timedrun) compile the sources a second time — 63 compiles against
    // 27 for 1.6.38, 46 s against 13 s on the lab. Likewise only bin/memcached is
    // installed (automake's install-binPROGRAMS): it is all memplay runs or checks, and
    // a full `make install` of some release archives wants the docs toolchain too.
    await withCompileCount(ctx, `${staging}/src`, log, makeTarget, () =>
      runStep(
        ctx,
        'make',
        sh`cd ${`${staging}/src`} && make -j"$(nproc 2>/dev/null || echo 2)" ${makeTarget} >>${log} 2>&1`,
        log,
      ),
    );
    await runStep(
      ctx,
      'make install',
      sh`cd ${`${staging}/src`} && make ${installTarget} DESTDIR=${`${staging}/root`} >>${log} 2>&1`,
      log,
    );
    stagingLeft = !(await installTree(ctx, { tree: `${staging}/root${installDir}`, staging })).stagingRemoved;
  } finally {
    if (stagingLeft) await ctx.transport.run(sh`rm -rf ${staging}`);
  }
  return formatDuration(Date.now() - started);
}

/**
 * On the builder: tars the installed tree, checksums it there, copies it to the
 * controller (streamed to a file, so memory does not grow with it) and checks the
 * checksum again on the copy.
 */
export async function pack(ctx: TaskContext): Promise<ShippableBuild> {
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
    // What receivers check is hashed here, from the bytes the controller relays.
    return { builder: ctx.host.name, path: local, sha256: arrived, bytes: (await stat(local)).size };
  } finally {
    await ctx.transport.run(sh`rm -f ${remoteTar}`);
  }
}

export async function receive(ctx: TaskContext, packed: ShippableBuild): Promise<void> {
  const { version } = ctx.target;
  const prefix = ctx.host.memcached.prefix;
  const staging = `${prefix}/${stagingPrefix}${version}-${randomBytes(4).toString('hex')}`;
  const tarName = 'tree.tar';
  let stagingLeft = true;
  try {
    // Staging directories of builds that crashed or were interrupted earlier go first.
    await runStep(ctx, 'create staging directory', sh`${cleanupStale(prefix, version)}; mkdir -p ${staging}`);
    ctx.progress(`upload ${version} built on ${packed.builder}`);
    await ctx.transport.upload(packed.path, `${staging}/${tarName}`, (p) =>
      ctx.progress(`upload ${version} built on ${packed.builder}`, {
        bytes: p.transferred,
        bytesTotal: p.total,
      }),
    );
    const installed = await installTree(ctx, {
      tree: `${staging}/root`,
      staging,
      shipped: { tarName, sha256: packed.sha256 },
    });
    stagingLeft = !installed.stagingRemoved;
  } finally {
    if (stagingLeft) await ctx.transport.run(sh`rm -rf ${staging}`);
  }
}

export function cleanupStale(prefix: string, version: string): ShellCommand {
  // The globs must stay unquoted to expand; prefix and version are quoted around them.
  return sh`for dir in ${prefix}/${stagingPrefix}${version}-* ${prefix}/${shipPrefix}${version}-*; do [ -e "$dir" ] && rm -rf "$dir"; done; true`;
}
