import type { JumpHop } from '../transport/jump.js';
// The playbook after validation and resolution: what the engine consumes.
// Every host here has its defaults merged in and every path expanded, so nothing
// downstream needs to know about YAML, defaults or groups.

export type ServiceConfig =
  | { readonly manager: 'pidfile'; readonly pidfile: string }
  | {
      readonly manager: 'systemd';
      readonly unit: string;
      /** The drop-in that points the unit's ExecStart at `<prefix>/current/bin/memcached`. */
      readonly dropIn: string;
    };

export interface SshSettings {
  readonly user: string;
  readonly port: number;
  /** Absolute path after `~` expansion; absent means ssh-agent only. */
  readonly identityFile?: string;
  /** Absolute path after `~` expansion: searched first, and the file --accept-new-host-keys writes to. */
  readonly knownHosts: string;
  /** The other known_hosts files ssh would read (user, then global), searched but never written. */
  readonly otherKnownHosts?: readonly string[];
  /** ssh.legacy_algorithms: weak algorithms offered after OpenSSH's defaults (absent: none). */
  readonly legacyAlgorithms?: readonly string[];
  readonly connectTimeoutMs: number;
  /** The hops to pass through, first hop first (ssh.jump, or ProxyJump from the ssh config); absent: direct. */
  readonly jumps?: readonly JumpHost[];
  /** The ssh config's HostKeyAlias: the name the host key is filed under in known_hosts. */
  readonly hostKeyAlias?: string;
  /** Where the ssh config placed this host, for connection errors (set when a config was read). */
  readonly configNote?: string;
}

/** A bastion as the transport dials it: one definition for the playbook and the connection. */
export type JumpHost = JumpHop;

export interface MemcachedSettings {
  readonly port: number;
  /** Builds go to `<prefix>/<version>`; `<prefix>/current` links the live one. */
  readonly prefix: string;
  readonly args: readonly string[];
  /**
   * memcached.args was written nowhere (host, group, defaults, inventory): on a
   * host the distribution's package installed, the running instance's arguments
   * are carried over (src/facts/carried-args.ts).
   */
  readonly argsLeftOut?: boolean;
  /** Old builds kept besides the target, `current` and `previous` when a new build is installed. */
  readonly keepBuilds: number;
  readonly service: ServiceConfig;
  /** ASCII authentication (`-Y authfile`): the names of the controller's variables holding the credentials. */
  readonly auth?: MemcachedAuthVariables;
  /** `memcached.tls`: every connection to the memcached port speaks TLS (`-Z`). */
  readonly tls?: MemcachedTlsSettings;
}

/** Controller paths (after `~` expansion) and the name the server certificate must carry. */
export interface MemcachedTlsSettings {
  readonly caFile: string;
  /** With keyFile: the client certificate presented when memcached asks for one. */
  readonly certFile?: string;
  readonly keyFile?: string;
  /** A DNS name or an IP address; the host's address unless the playbook names one. */
  readonly serverName: string;
}

export interface MemcachedAuthVariables {
  readonly userVariable: string;
  readonly passwordVariable: string;
}

export interface HostConfig {
  readonly name: string;
  readonly address: string;
  readonly connection: 'ssh' | 'local';
  readonly ssh: SshSettings;
  readonly memcached: MemcachedSettings;
  /** Privileged steps (systemctl) run through sudo (`-n`, or `-S` with MEMPLAY_BECOME_PASSWORD). */
  readonly become: boolean;
  /** Where the playbook wrote the settings a host's errors name (`file:line:col`); absent: the default applies. */
  readonly origins?: SettingOrigins;
  /**
   * Set when this run target is one of several memcached instances of one playbook host
   * (`hosts.<name>.instances`): that host's name. Its instances share the host's connection,
   * lock and builds; absent: the host runs one memcached and the target is the host itself.
   */
  readonly instanceOf?: string;
}

/** The playbook host a run target belongs to: the one connection, lock and build it shares. */
export function hostOf(target: HostConfig): string {
  return target.instanceOf ?? target.name;
}

export interface SettingOrigins {
  readonly port?: string;
  readonly args?: string;
}

export type TargetSource =
  | { readonly kind: 'path'; readonly path: string }
  | { readonly kind: 'url'; readonly url: string }
  /** target.package: the distribution's package, unpacked on each host (src/tasks/package-build.ts). */
  | TargetPackage;

export interface TargetPackage {
  readonly kind: 'package';
  readonly name: string;
  /** The distribution's version (`1.6.18-1+deb12u1`); null: the newest whose upstream version is the target. */
  readonly version: string | null;
}

export interface Target {
  readonly version: string;
  readonly source: TargetSource;
  /** The tarball's checksum; empty for a package target (apt checks the package). */
  readonly sha256: string;
  readonly configure: readonly string[];
  /** target.build_on: where hosts of its platform get their build compiled instead of compiling it. */
  readonly buildOn?: BuildHost;
  /** target.prebuilt: an installed tree every host that needs the target receives instead of compiling. */
  readonly prebuilt?: PrebuiltTree;
}

/**
 * target.build_on: the machine that compiles for the hosts of its platform, reached
 * over a connection of its own: the controller (a local connection), a host of
 * `hosts` by name, or a host outside the fleet (named by its address).
 */
export interface BuildHost {
  readonly where: 'controller' | 'host';
  readonly host: HostConfig;
  /** A host of `hosts`: upgraded only when selected, and then through its own connection. */
  readonly inFleet: boolean;
}

export interface PrebuiltTree {
  /** Absolute path on the controller. */
  readonly file: string;
  /** Lower case. */
  readonly sha256: string;
}

/** A number of hosts: a count, or a percentage of the selected hosts. */
export type HostCount =
  | { readonly kind: 'count'; readonly count: number }
  | { readonly kind: 'percent'; readonly percent: number };

/**
 * strategy.serial: the batch sizes in order, never empty; the last one repeats
 * for the hosts left, as in Ansible's list form. A single value is a list of one.
 */
export type Serial = readonly HostCount[];

export interface Strategy {
  readonly serial: Serial;
  readonly maxFailPercentage: number;
  /** strategy.max_failed_hosts: failed hosts the whole run tolerates; absent: no such budget. */
  readonly maxFailedHosts?: HostCount;
  /** Seconds waited between two batches (0: none). */
  readonly pauseBetweenBatches: number;
  /** Ask the operator before each batch after the first. */
  readonly confirmBetweenBatches: boolean;
  /** strategy.instances_together: instances of one host may share a rolling batch. */
  readonly instancesTogether?: boolean;
}

/** How an upgraded host is checked; defaults in resolve.ts. */
export interface VerifySettings {
  /** Items compared with the backup (default 1000). */
  readonly sample: number;
  /** Compare every item, not a sample (default false). */
  readonly full: boolean;
  /** Default 1.0. */
  readonly minRestoredRatio: number;
  /** `stats settings` names whose client-visible change the operator accepts (default none). */
  readonly acceptSettings: readonly string[];
  /** As a fraction: 0.25 = p50/p99 may be 25 % above the old instance's (default 0.25). */
  readonly maxLatencyRegression: number;
  /** New throughput / old, at least (default 0.8). */
  readonly minThroughputRatio: number;
}

/**
 * `backup.keep`: which backups of a host stay after a successful run (src/tasks/backup-retention.ts).
 * A limit left out does not apply; the default is `{ count: 3 }`.
 */
export interface BackupRetention {
  /** The newest N backups of a host are kept. */
  readonly count?: number;
  /** None older than this is kept: as the playbook writes it (`7d`) and in seconds. */
  readonly maxAge?: { readonly text: string; readonly seconds: number };
}

export type SwapMode = 'auto' | 'warm' | 'cold' | 'handover';

export interface Playbook {
  /** Absolute path of the playbook file. */
  readonly file: string;
  readonly name: string;
  readonly target: Target;
  readonly strategy: Strategy;
  readonly backup: { readonly dir: string; readonly keep: BackupRetention };
  readonly verify: VerifySettings;
  /** How the old instance is replaced: `auto` (warm restart where safe), `warm`, `cold` or `handover`. */
  readonly swap: {
    readonly mode: SwapMode;
    /** handover: the memory file the new build runs on, `{port}` already filled in per host (see HostConfig). */
    readonly memoryFile: string;
  };
  /** `tasks:` — apply's own step list (built-in tasks and command steps); absent: playbooks/upgrade.yml. */
  readonly tasks?: readonly TaskStep[];
  /** In the order the playbook lists them. */
  readonly hosts: readonly HostConfig[];
  readonly groups: Readonly<Record<string, readonly string[]>>;
}

/** One entry of `tasks:`: a built-in task by name, or a command run on the host. */
export type TaskStep =
  | { readonly kind: 'builtin'; readonly name: string }
  | {
      readonly kind: 'command';
      readonly name: string;
      /** Program and arguments; run without a shell, with the host's facts in the environment. */
      readonly argv: readonly string[];
      /** `upgrading`: only on a host not already on the target when the run began. */
      readonly when: 'upgrading' | 'always';
    };
