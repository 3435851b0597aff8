import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HostFacts } from '../facts/host-facts.js';
import { hasWorkingBuild, type Platform } from '../facts/host-facts.js';
import type { Target } from '../playbook/types.js';

/** A host of the same phase batch, as it was when the batch started: what build sharing plans from. */
export interface BuildPeer {
  readonly name: string;
  readonly facts: HostFacts;
  readonly target: Target;
}

// Build once per platform: hosts that would compile the same sources with the same
// configure arguments on the same architecture, libc and libevent get the same
// binary, so one of them compiles and the others receive its installed tree.

/** Where a host's build comes from when no host of the fleet compiles it. */
export type BuildOrigin =
  /** target.build_on: compiled once on that machine (`label`: `build host buildbox`, `the controller`). */
  | { readonly kind: 'build-host'; readonly label: string }
  /** target.prebuilt: the tree in this tarball on the controller. */
  | { readonly kind: 'prebuilt'; readonly file: string; readonly sha256: string };

/** What a host does in the build task of this batch. */
export type BuildRole =
  | { readonly kind: 'compile'; readonly receivers: readonly string[]; readonly platform: string | null }
  | {
      readonly kind: 'receive';
      readonly builder: string;
      readonly platform: string;
      /** false: the host has no compiler, so a failed ship cannot fall back to compiling here. */
      readonly canCompile?: false;
    }
  /** Unpack a tree compiled elsewhere (build_on) or prebuilt, relayed by the controller. */
  | { readonly kind: 'shipped'; readonly from: BuildOrigin; readonly platform: string | null }
  | { readonly kind: 'none' };

/** A role, or why nothing can build for the host: the plan fails it before anything changes. */
export type BuildAssignment = BuildRole | { readonly kind: 'cannot'; readonly reason: string };

/** target.build_on as build sharing sees it: the build host's platform, once read, or why it could not be. */
export type BuildHostState =
  | { readonly kind: 'ready'; readonly label: string; readonly platform: Platform }
  | { readonly kind: 'unreachable'; readonly label: string; readonly reason: string };

/** Where builds come from besides the fleet's own hosts. */
export interface BuildSources {
  readonly buildHost?: BuildHostState;
  readonly prebuilt?: { readonly file: string; readonly sha256: string };
}

/** `x86_64, glibc 2.36, libevent 2.1.12-stable`; null when any part is unknown. */
export function describePlatform(platform: Platform): string | null {
  const { arch, libc, libevent } = platform;
  if (arch === null || libc === null || libevent === null) return null;
  return `${arch}, ${libc}, libevent ${libevent}`;
}

/**
 * Everything the installed tree depends on: the platform, the version, the tarball
 * (by sha256) and the configure arguments. The prefix is left out: memcached reads
 * nothing from its install prefix at run time, so the tree works wherever it is put.
 */
export function buildFingerprint(platform: Platform, target: Target): string | null {
  // A package target is not shared: each host takes it from its own archive (package-build.ts).
  if (describePlatform(platform) === null || target.source.kind === 'package') return null;
  return JSON.stringify([
    platform.arch,
    platform.libc,
    platform.libevent,
    target.version,
    target.sha256,
    target.configure,
  ]);
}

/**
 * What a host lacks to compile this target. OpenSSL's headers (`openssl`) count only for a
 * build with `--enable-tls` (memcached.tls): the probe asks for them on every host.
 */
export function missingTools(missing: readonly string[] | undefined, configure: readonly string[]): string[] {
  const tls = configure.includes('--enable-tls');
  return (missing ?? []).filter((tool) => tls || tool !== 'openssl');
}

/** A host that lacks none of the build tools, or was not asked (it finds out when it compiles). */
export function canCompile(platform: Platform, configure: readonly string[]): boolean {
  return missingTools(platform.missingBuildTools, configure).length === 0;
}

const packageHints: Record<string, string> = {
  compiler: 'build-essential (Debian/Ubuntu) or gcc (RHEL)',
  make: 'make',
  tar: 'tar',
  xz: 'xz-utils (Debian/Ubuntu) or xz (RHEL)',
  libevent: 'libevent-dev (Debian/Ubuntu) or libevent-devel (RHEL)',
  openssl: 'libssl-dev (Debian/Ubuntu) or openssl-devel (RHEL), for --enable-tls',
};

/** `missing compiler, make — install build-essential (Debian/Ubuntu) or gcc (RHEL); make` */
export function missingToolsText(missing: readonly string[]): string {
  return `missing ${missing.join(', ')} — install ${missing.map((m) => packageHints[m] ?? m).join('; ')}`;
}

const toolNames: Record<string, string> = {
  compiler: 'no C compiler (cc or gcc)',
  make: 'no make',
  tar: 'no tar',
  xz: 'no xz',
  libevent: 'no libevent headers (event.h)',
  openssl: 'no OpenSSL headers (openssl/ssl.h, for --enable-tls)',
};

/** A host that must compile and cannot: what it lacks, and the two ways to get a build to it anyway. */
function cannotCompile(
  platform: Platform,
  configure: readonly string[],
  buildHost: BuildHostState | undefined,
): string {
  const lacks = missingTools(platform.missingBuildTools, configure)
    .map((m) => toolNames[m] ?? m)
    .join(', ');
  const described = describePlatform(platform);
  const others = described
    ? `no host of its platform (${described}) in this batch can compile`
    : 'its platform cannot be read, so no build can be shipped to it';
  const builder =
    buildHost?.kind === 'ready'
      ? `, and target.build_on's ${buildHost.label} is another platform (${describePlatform(buildHost.platform) ?? 'unknown'})`
      : '';
  return (
    `this host must compile and cannot: ${lacks} on the PATH of its ssh user; ${others}${builder} — ` +
    'set target.build_on to a host of the same platform that has a compiler (or controller), ' +
    'or target.prebuilt to a tarball of a built tree'
  );
}

/**
 * Decides every host's part in the build, in the batch's order. A host that already
 * runs the target build does nothing. With target.prebuilt every other host receives
 * that tree. With target.build_on, hosts of the build host's platform receive what it
 * compiles. The rest are grouped by fingerprint: in each group the first host that
 * can compile does, and the others receive its tree; a group none of whose hosts can
 * compile, or a host whose platform is unknown and cannot compile, cannot be served.
 */
export function planBuildSharing(
  peers: readonly BuildPeer[],
  sources: BuildSources = {},
): ReadonlyMap<string, BuildAssignment> {
  const roles = new Map<string, BuildAssignment>();
  const groups = new Map<string, { platform: string; members: BuildPeer[] }>();
  const { buildHost, prebuilt } = sources;
  for (const peer of peers) {
    const { platform } = peer.facts;
    const described = describePlatform(platform);
    if (hasWorkingBuild(peer.facts, peer.target.version)) {
      roles.set(peer.name, { kind: 'none' });
      continue;
    }
    if (prebuilt) {
      roles.set(peer.name, { kind: 'shipped', from: { kind: 'prebuilt', ...prebuilt }, platform: described });
      continue;
    }
    if (buildHost?.kind === 'unreachable') {
      roles.set(peer.name, {
        kind: 'cannot',
        reason: `target.build_on's ${buildHost.label} cannot be reached: ${buildHost.reason}`,
      });
      continue;
    }
    if (buildHost && described !== null && describePlatform(buildHost.platform) === described) {
      roles.set(
        peer.name,
        canCompile(buildHost.platform, peer.target.configure)
          ? { kind: 'shipped', from: { kind: 'build-host', label: buildHost.label }, platform: described }
          : {
              kind: 'cannot',
              reason: `target.build_on's ${buildHost.label} cannot compile: ${missingToolsText(missingTools(buildHost.platform.missingBuildTools, peer.target.configure))}`,
            },
      );
      continue;
    }
    const fingerprint = buildFingerprint(platform, peer.target);
    if (fingerprint === null || described === null) {
      roles.set(
        peer.name,
        canCompile(platform, peer.target.configure)
          ? { kind: 'compile', receivers: [], platform: null }
          : { kind: 'cannot', reason: cannotCompile(platform, peer.target.configure, buildHost) },
      );
      continue;
    }
    const group = groups.get(fingerprint) ?? { platform: described, members: [] };
    group.members.push(peer);
    groups.set(fingerprint, group);
  }
  for (const { platform, members } of groups.values()) {
    const builder = members.find((member) => canCompile(member.facts.platform, member.target.configure));
    if (!builder) {
      for (const member of members) {
        roles.set(member.name, {
          kind: 'cannot',
          reason: cannotCompile(member.facts.platform, member.target.configure, buildHost),
        });
      }
      continue;
    }
    const receivers = members.filter((member) => member !== builder);
    roles.set(builder.name, { kind: 'compile', receivers: receivers.map((r) => r.name), platform });
    for (const receiver of receivers) {
      roles.set(receiver.name, {
        kind: 'receive',
        builder: builder.name,
        platform,
        ...(!canCompile(receiver.facts.platform, receiver.target.configure) && {
          canCompile: false as const,
        }),
      });
    }
  }
  return roles;
}

/** A built tree, packed on the builder and copied to the controller, ready to be shipped. */
export interface ShippableBuild {
  readonly builder: string;
  /** A tar of `<prefix>/<version>`'s contents, on the controller. */
  readonly path: string;
  /** The controller's sha256 of that tar (never the builder's figure): what each receiver checks. */
  readonly sha256: string;
  readonly bytes: number;
}

interface Slot {
  readonly builder: string;
  readonly promise: Promise<ShippableBuild>;
  settle(result: ShippableBuild | Error): void;
  settled: boolean;
}

/**
 * Where builders hand their packed trees to the hosts waiting for them, for one run.
 * A host that finishes its phase without publishing what it was to build (an earlier
 * task failed, the run was interrupted) releases its receivers with an error, so no
 * host waits for a build that will never come.
 */
export class BuildExchange {
  private readonly slots = new Map<string, Slot>();
  private readonly finishedHosts = new Set<string>();
  private workDir: Promise<string> | undefined;

  /** A fresh file name in the run's private folder on the controller. */
  async scratchFile(name: string): Promise<string> {
    this.workDir ??= mkdtemp(join(tmpdir(), 'memplay-ship-'));
    return join(await this.workDir, name);
  }

  private slot(key: string, builder: string): Slot {
    let slot = this.slots.get(key);
    if (!slot) {
      let settle!: (result: ShippableBuild | Error) => void;
      const promise = new Promise<ShippableBuild>((resolve, reject) => {
        settle = (result) => (result instanceof Error ? reject(result) : resolve(result));
      });
      // A rejection nobody awaits (no receiver got that far) is not an error of the run.
      promise.catch(() => {});
      const created: Slot = {
        builder,
        promise,
        settled: false,
        settle(result) {
          if (created.settled) return;
          created.settled = true;
          settle(result);
        },
      };
      slot = created;
      this.slots.set(key, slot);
      if (this.finishedHosts.has(builder)) {
        slot.settle(new Error(`${builder} finished without building it`));
      }
    }
    return slot;
  }

  /** The builder's side: the packed tree, or why there is none. */
  publish(key: string, builder: string, result: ShippableBuild | Error): void {
    this.slot(key, builder).settle(result);
  }

  /** A receiver's side: resolves once the builder published, rejects if it could not. */
  waitFor(key: string, builder: string): Promise<ShippableBuild> {
    return this.slot(key, builder).promise;
  }

  /** The engine's side: `host` is done with this phase. */
  hostFinished(host: string): void {
    this.finishedHosts.add(host);
    for (const slot of this.slots.values()) {
      if (slot.builder === host) slot.settle(new Error(`${host} finished without building it`));
    }
  }

  async dispose(): Promise<void> {
    const dir = await this.workDir?.catch(() => undefined);
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
