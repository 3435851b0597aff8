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

/** What a host does in the build task of this batch. */
export type BuildRole =
  | { readonly kind: 'compile'; readonly receivers: readonly string[]; readonly platform: string | null }
  | { readonly kind: 'receive'; readonly builder: string; readonly platform: string }
  | { readonly kind: 'none' };

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
 * Groups the hosts of one batch by fingerprint, in the batch's order: in each group
 * the first host that needs the build compiles it and the later ones receive it.
 * Hosts that already run the target build, and hosts whose platform is unknown,
 * are in no group (the latter compile for themselves).
 */
export function planBuildSharing(peers: readonly BuildPeer[]): ReadonlyMap<string, BuildRole> {
  const roles = new Map<string, BuildRole>();
  const builders = new Map<string, { name: string; receivers: string[]; platform: string }>();
  for (const peer of peers) {
    if (hasWorkingBuild(peer.facts, peer.target.version)) {
      roles.set(peer.name, { kind: 'none' });
      continue;
    }
    const fingerprint = buildFingerprint(peer.facts.platform, peer.target);
    const platform = describePlatform(peer.facts.platform);
    if (fingerprint === null || platform === null) {
      roles.set(peer.name, { kind: 'compile', receivers: [], platform: null });
      continue;
    }
    const builder = builders.get(fingerprint);
    if (builder) {
      builder.receivers.push(peer.name);
      roles.set(peer.name, { kind: 'receive', builder: builder.name, platform });
    } else {
      builders.set(fingerprint, { name: peer.name, receivers: [], platform });
    }
  }
  for (const { name, receivers, platform } of builders.values()) {
    roles.set(name, { kind: 'compile', receivers, platform });
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
