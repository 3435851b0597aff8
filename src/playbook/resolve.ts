import { homedir, userInfo } from 'node:os';
import { dirname, join, posix, resolve as resolvePath } from 'node:path';
import { memorySettings } from '../memcached/memory-settings.js';
import type { SshConfigFile } from '../transport/ssh-config.js';
import type { HostDocument, PlaybookDocument, ServiceDocument } from './document.generated.js';
import { mergeHostSettings } from './merge.js';
import { resolveSsh, sshConfigPath } from './ssh-settings.js';

export type { PlaybookDocument } from './document.generated.js';

/** A host's settings as `defaults:` and each host entry write them (a host adds its address). */
type HostSettingsDocument = NonNullable<PlaybookDocument['defaults']>;

import type {
  BackupRetention,
  HostConfig,
  HostCount,
  Playbook,
  ServiceConfig,
  Strategy,
  TargetSource,
  TaskStep,
} from './types.js';

/** Where `~` and the controller's user come from; tests pass their own. */
export interface ControllerEnvironment {
  readonly homeDir: string;
  readonly userName: string;
  /** `$MEMPLAY_SSH_CONFIG`: the ssh config a host without ssh.config_file reads. */
  readonly sshConfigFile?: string;
  /** The ssh configs already read, by absolute path; a host whose config is not here reads none. */
  readonly sshConfigs?: ReadonlyMap<string, SshConfigFile>;
}

export function controllerEnvironment(): ControllerEnvironment {
  const sshConfigFile = process.env.MEMPLAY_SSH_CONFIG;
  return {
    homeDir: homedir(),
    userName: userInfo().username,
    ...(sshConfigFile !== undefined && sshConfigFile !== '' && { sshConfigFile }),
  };
}

/** The absolute ssh config path of each host (undefined: `none`), for reading them before resolving. */
export function sshConfigPaths(
  document: PlaybookDocument,
  file: string,
  environment: ControllerEnvironment = controllerEnvironment(),
): Map<string, string | undefined> {
  const local = (path: string) => localPath(path, dirname(file), environment.homeDir);
  const paths = new Map<string, string | undefined>();
  for (const [name, host] of Object.entries(document.hosts ?? {})) {
    const settings = mergeHostSettings(document.defaults, host) as HostSettingsDocument;
    if ((settings.connection ?? 'ssh') !== 'ssh') continue;
    paths.set(name, sshConfigPath(settings.ssh ?? {}, local, environment.sshConfigFile));
  }
  return paths;
}

/**
 * The engine's view of a validated playbook: defaults merged into every host, every
 * default filled in, and every controller-side path absolute. `file` must be absolute.
 */
/** `0.25` or `"25%"` (the schema allows both) as a fraction. */
function fractionOf(value: number | string): number {
  return typeof value === 'number' ? value : Number(value.slice(0, -1)) / 100;
}

const ageUnitSeconds: Readonly<Record<string, number>> = { m: 60, h: 3600, d: 86_400, w: 604_800 };

/** Without `backup.dir`. */
export const defaultBackupDir = './backups';
/** Without `backup.keep`: the newest 3 per host. */
export const defaultBackupRetention: BackupRetention = { count: 3 };

/** `backup.keep` as the engine applies it. */
function retentionOf(
  keep: { readonly count?: number; readonly max_age?: string } | undefined,
): BackupRetention {
  if (keep === undefined) return defaultBackupRetention;
  const maxAge = keep.max_age;
  return {
    ...(keep.count !== undefined && { count: keep.count }),
    // The schema's pattern: a whole number and one unit letter.
    ...(maxAge !== undefined && {
      maxAge: {
        text: maxAge,
        seconds: Number(maxAge.slice(0, -1)) * (ageUnitSeconds[maxAge.slice(-1)] ?? 0),
      },
    }),
  };
}

export function resolvePlaybook(
  document: PlaybookDocument,
  file: string,
  environment: ControllerEnvironment = controllerEnvironment(),
): Playbook {
  const folder = dirname(file);
  const local = (path: string) => localPath(path, folder, environment.homeDir);
  const { source } = document.target;
  const targetSource: TargetSource =
    source.path !== undefined
      ? { kind: 'path', path: local(source.path) }
      : { kind: 'url', url: source.url ?? '' };
  return {
    file,
    name: document.name,
    target: {
      version: document.target.version,
      source: targetSource,
      sha256: source.sha256.toLowerCase(),
      configure: document.target.configure ?? [],
    },
    strategy: strategyOf(document.strategy ?? {}),
    backup: {
      dir: local(document.backup?.dir ?? defaultBackupDir),
      keep: retentionOf(document.backup?.keep),
    },
    verify: {
      sample: document.verify?.sample ?? 1000,
      full: document.verify?.full ?? false,
      minRestoredRatio: document.verify?.min_restored_ratio ?? 1,
      acceptSettings: document.verify?.accept_settings ?? [],
      maxLatencyRegression: fractionOf(document.verify?.max_latency_regression ?? 0.25),
      minThroughputRatio: document.verify?.min_throughput_ratio ?? 0.8,
    },
    swap: { mode: document.swap?.mode ?? 'auto', memoryFile: swapMemoryFile(document) },
    ...(document.tasks && {
      tasks: document.tasks.map(
        (step): TaskStep =>
          typeof step === 'string'
            ? { kind: 'builtin', name: step }
            : { kind: 'command', name: step.command, argv: step.argv, when: step.when ?? 'upgrading' },
      ),
    }),
    hosts: Object.entries(document.hosts ?? {}).map(([name, host]) =>
      withHandoverMemoryFile(resolveHost(name, host, document.defaults, local, environment), document),
    ),
    groups: document.groups ?? {},
  };
}

const defaultHandoverMemoryFile = '/dev/shm/memcached-{port}.mem';

function swapMemoryFile(document: PlaybookDocument): string {
  return document.swap?.memory_file ?? defaultHandoverMemoryFile;
}

/**
 * `swap.mode: handover` runs the new build on a memory file from then on: a host
 * whose args name none gets `-e swap.memory_file` (its `{port}` filled in), so
 * every start — the handover's, a later warm upgrade's — uses the same file.
 */
function withHandoverMemoryFile(host: HostConfig, document: PlaybookDocument): HostConfig {
  if (document.swap?.mode !== 'handover') return host;
  const args = host.memcached.args;
  if (memorySettings(args)['-e'] !== undefined) return host;
  const file = swapMemoryFile(document).replaceAll('{port}', String(host.memcached.port));
  return { ...host, memcached: { ...host.memcached, args: [...args, '-e', file] } };
}

function resolveHost(
  name: string,
  host: HostDocument,
  defaults: HostSettingsDocument | undefined,
  local: (path: string) => string,
  environment: ControllerEnvironment,
): HostConfig {
  // The schema leaves address optional for hosts_from's sake; validation, and the
  // inventory merged in by hosts-from.ts, give every host one before this runs.
  if (host.address === undefined) throw new Error(`host ${name} reached resolving without an address`);
  const settings = mergeHostSettings(defaults, host) as HostSettingsDocument;
  const ssh = settings.ssh ?? {};
  const memcached = settings.memcached ?? {};
  const prefix = memcached.prefix ?? '/opt/memcached';
  const connection = settings.connection ?? 'ssh';
  // A local host is not looked up in the ssh config: its address is only a label there.
  const configFile = connection === 'ssh' ? sshConfigPath(ssh, local, environment.sshConfigFile) : undefined;
  const config = configFile === undefined ? undefined : environment.sshConfigs?.get(configFile);
  const reached = resolveSsh(host.address, ssh, {
    homeDir: environment.homeDir,
    userName: environment.userName,
    local,
    ...(config && { config }),
  });
  return {
    name,
    address: reached.address,
    connection,
    ssh: reached.ssh,
    memcached: {
      port: memcached.port ?? 11211,
      prefix,
      args: memcached.args ?? [],
      keepBuilds: memcached.keep_builds ?? 2,
      service: serviceOf(memcached.service, prefix),
      ...(memcached.auth && {
        auth: { userVariable: memcached.auth.user_env, passwordVariable: memcached.auth.password_env },
      }),
    },
    become: settings.become ?? false,
  };
}

// Validation guarantees a systemd service has its unit.
function serviceOf(service: ServiceDocument | undefined, prefix: string): ServiceConfig {
  if (service?.manager === 'systemd') {
    const unit = service.unit ?? '';
    return {
      manager: 'systemd',
      unit,
      dropIn: service.drop_in ?? `/etc/systemd/system/${unit}.d/memplay.conf`,
    };
  }
  return { manager: 'pidfile', pidfile: service?.pidfile ?? posix.join(prefix, 'memcached.pid') };
}

function strategyOf(strategy: NonNullable<PlaybookDocument['strategy']>): Strategy {
  const serial = strategy.serial ?? 1;
  const maxFailedHosts = strategy.max_failed_hosts;
  return {
    serial: (Array.isArray(serial) ? serial : [serial]).map(hostCountOf),
    // A failure budget written without max_fail_percentage decides alone: the
    // default 0 would otherwise stop the run at the first failure, before the budget.
    maxFailPercentage: strategy.max_fail_percentage ?? (maxFailedHosts === undefined ? 0 : 100),
    ...(maxFailedHosts !== undefined && { maxFailedHosts: hostCountOf(maxFailedHosts) }),
    pauseBetweenBatches: strategy.pause_between_batches ?? 0,
    confirmBetweenBatches: strategy.confirm_between_batches ?? false,
  };
}

/** `2` or `"25%"` (the schema allows both). */
function hostCountOf(value: number | string): HostCount {
  if (typeof value === 'number') return { kind: 'count', count: value };
  return { kind: 'percent', percent: Number(value.slice(0, -1)) };
}

/** A path on the controller: `~` is the home folder, a relative path starts at the playbook's folder. */
export function localPath(path: string, folder: string, homeDir: string): string {
  if (path === '~') return homeDir;
  if (path.startsWith('~/')) return join(homeDir, path.slice(2));
  return resolvePath(folder, path);
}
