import { homedir, userInfo } from 'node:os';
import { dirname, join, posix, resolve as resolvePath } from 'node:path';
import { memorySettings } from '../memcached/memory-settings.js';
import type { SshConfigFile } from '../transport/ssh-config.js';
import {
  type HostDocument,
  hostDefaults,
  memcachedDefaults,
  type PlaybookDocument,
  playbookDefaults,
  type ServiceDocument,
  serviceDefaults,
  taskStepDefaults,
} from './document.generated.js';
import { mergeHostSettings } from './merge.js';
import { resolveSsh, sshConfigPath } from './ssh-settings.js';

export type { PlaybookDocument } from './document.generated.js';

/** A host's settings as `defaults:` and each host entry write them (a host adds its address). */
type HostSettingsDocument = NonNullable<PlaybookDocument['defaults']>;
type BackupKeepDocument = NonNullable<NonNullable<PlaybookDocument['backup']>['keep']>;

import type {
  BackupRetention,
  BuildHost,
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
  /** Told each ssh config value a host would use and memplay refuses (a bad Port, ConnectTimeout, …). */
  readonly onSshConfigProblem?: (host: string, message: string) => void;
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
    if ((settings.connection ?? hostDefaults.connection) !== 'ssh') continue;
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

// Every default below is the schema's `default` keyword (document.generated.ts);
// test/unit/playbook-defaults.test.ts holds the schema's text and behaviour to them.
const { strategy: strategyDefaults, verify: verifyDefaults } = playbookDefaults;

/** Without `backup.dir`. */
export const defaultBackupDir: string = playbookDefaults.backup.dir;

/** `backup.keep` as the engine applies it. */
function retentionOf(keep: BackupKeepDocument = playbookDefaults.backup.keep): BackupRetention {
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

/** Without `backup.keep`: the newest 3 per host. */
export const defaultBackupRetention: BackupRetention = retentionOf();

export function resolvePlaybook(
  document: PlaybookDocument,
  file: string,
  environment: ControllerEnvironment = controllerEnvironment(),
): Playbook {
  const folder = dirname(file);
  const local = (path: string) => localPath(path, folder, environment.homeDir);
  const { source, package: distroPackage } = document.target;
  const verify = document.verify ?? {};
  // The schema lets through exactly one of source and package.
  const targetSource: TargetSource =
    source === undefined
      ? {
          kind: 'package',
          name: distroPackage?.name ?? playbookDefaults.target.package.name,
          version: distroPackage?.version ?? null,
        }
      : source.path !== undefined
        ? { kind: 'path', path: local(source.path) }
        : { kind: 'url', url: source.url ?? '' };
  // One entry per memcached: a host's own, or each of its `instances`.
  const hosts = Object.entries(document.hosts ?? {}).flatMap(([name, host]) =>
    instanceSettings(name, host).map(({ target, settings, instanceOf }) =>
      withHandoverMemoryFile(
        resolveHost(target, settings, document.defaults, local, environment, instanceOf),
        document,
      ),
    ),
  );
  const { build_on: buildOn, prebuilt } = document.target;
  return {
    file,
    name: document.name,
    target: {
      version: document.target.version,
      source: targetSource,
      sha256: source?.sha256.toLowerCase() ?? '',
      configure: withTlsBuild(document.target.configure ?? playbookDefaults.target.configure, hosts),
      ...(buildOn !== undefined && {
        buildOn: buildHostOf(
          buildOn,
          hosts,
          (name, entry, defaults) => resolveHost(name, entry, defaults, local, environment),
          document.defaults,
        ),
      }),
      ...(prebuilt && { prebuilt: { file: local(prebuilt.file), sha256: prebuilt.sha256.toLowerCase() } }),
    },
    strategy: strategyOf(document.strategy ?? {}),
    backup: {
      dir: local(document.backup?.dir ?? defaultBackupDir),
      keep: retentionOf(document.backup?.keep),
    },
    verify: {
      sample: verify.sample ?? verifyDefaults.sample,
      full: verify.full ?? verifyDefaults.full,
      minRestoredRatio: verify.min_restored_ratio ?? verifyDefaults.min_restored_ratio,
      acceptSettings: verify.accept_settings ?? verifyDefaults.accept_settings,
      maxLatencyRegression: fractionOf(
        verify.max_latency_regression ?? verifyDefaults.max_latency_regression,
      ),
      minThroughputRatio: verify.min_throughput_ratio ?? verifyDefaults.min_throughput_ratio,
    },
    swap: { mode: document.swap?.mode ?? playbookDefaults.swap.mode, memoryFile: swapMemoryFile(document) },
    ...(document.tasks && {
      tasks: document.tasks.map(
        (step): TaskStep =>
          typeof step === 'string'
            ? { kind: 'builtin', name: step }
            : {
                kind: 'command',
                name: step.command,
                argv: step.argv,
                when: step.when ?? taskStepDefaults.when,
              },
      ),
    }),
    hosts,
    groups: document.groups ?? {},
  };
}

type BuildOnDocument = NonNullable<PlaybookDocument['target']['build_on']>;

/** `controller`, a host of `hosts` by name (validation saw it is one), or a host outside the fleet. */
function buildHostOf(
  buildOn: BuildOnDocument,
  hosts: readonly HostConfig[],
  entry: (name: string, host: HostDocument, defaults: HostSettingsDocument | undefined) => HostConfig,
  defaults: HostSettingsDocument | undefined,
): BuildHost {
  // The controller's own shell: no ssh, so the playbook's defaults (an ssh user) do not apply.
  if (buildOn === 'controller') {
    return {
      where: 'controller',
      host: entry('controller', { address: 'localhost', connection: 'local' }, undefined),
      inFleet: false,
    };
  }
  if (typeof buildOn !== 'string') {
    return { where: 'host', host: entry(buildOn.address, buildOn, defaults), inFleet: false };
  }
  // A host with several instances builds once for all of them: any one names it.
  const host = hosts.find((h) => (h.instanceOf ?? h.name) === buildOn);
  if (!host)
    throw new Error(`target.build_on names ${buildOn}, which reached resolving without a host entry`);
  return { where: 'host', host, inFleet: true };
}

/**
 * A TLS host needs a build with TLS (`-Z` is refused by one without), and one build
 * serves every host of a platform: so any host with `memcached.tls`, selected or not,
 * adds `--enable-tls`, and `--limit` never changes what is built.
 */
function withTlsBuild(configure: readonly string[], hosts: readonly HostConfig[]): readonly string[] {
  if (!hosts.some((host) => host.memcached.tls) || configure.includes('--enable-tls')) return configure;
  return [...configure, '--enable-tls'];
}

function swapMemoryFile(document: PlaybookDocument): string {
  return document.swap?.memory_file ?? playbookDefaults.swap.memory_file;
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

/**
 * A host entry as its run targets: itself, or one per `instances` entry (named
 * `<host>:<port>` or by its `name`), each the host's settings with the instance's
 * `memcached` keys merged over them as a host's are over `defaults`. A pidfile
 * instance without a pidfile of its own gets `<prefix>/memcached-<port>.pid`.
 */
export function instanceSettings(
  name: string,
  host: HostDocument,
): { target: string; settings: HostDocument; instanceOf?: string }[] {
  const { instances, ...entry } = host;
  if (instances === undefined) return [{ target: name, settings: host }];
  return instances.map((instance) => ({
    target: instanceName(name, instance),
    instanceOf: name,
    settings: mergeHostSettings(entry, {
      memcached: {
        port: instance.port,
        ...(instance.args !== undefined && { args: instance.args }),
        ...(instance.service !== undefined && { service: instance.service }),
        ...(instance.auth !== undefined && { auth: instance.auth }),
      },
    }) as HostDocument,
  }));
}

/** How an instance is named in reports and `--limit`: its `name`, else `<host>:<port>`. */
export function instanceName(
  host: string,
  instance: { readonly name?: string; readonly port: number },
): string {
  return instance.name ?? `${host}:${instance.port}`;
}

function resolveHost(
  name: string,
  host: HostDocument,
  defaults: HostSettingsDocument | undefined,
  local: (path: string) => string,
  environment: ControllerEnvironment,
  instanceOf?: string,
): HostConfig {
  // The schema leaves address optional for hosts_from's sake; validation, and the
  // inventory merged in by hosts-from.ts, give every host one before this runs.
  if (host.address === undefined) throw new Error(`host ${name} reached resolving without an address`);
  const settings = mergeHostSettings(defaults, host) as HostSettingsDocument;
  const ssh = settings.ssh ?? {};
  const memcached = settings.memcached ?? {};
  const prefix = memcached.prefix ?? memcachedDefaults.prefix;
  const connection = settings.connection ?? hostDefaults.connection;
  // A local host is not looked up in the ssh config: its address is only a label there.
  const configFile = connection === 'ssh' ? sshConfigPath(ssh, local, environment.sshConfigFile) : undefined;
  const config = configFile === undefined ? undefined : environment.sshConfigs?.get(configFile);
  const reached = resolveSsh(host.address, ssh, {
    homeDir: environment.homeDir,
    userName: environment.userName,
    local,
    ...(config && { config }),
    onConfigProblem: (message) => environment.onSshConfigProblem?.(name, message),
  });
  return {
    name,
    address: reached.address,
    connection,
    ssh: reached.ssh,
    memcached: {
      port: memcached.port ?? memcachedDefaults.port,
      prefix,
      args: memcached.args ?? memcachedDefaults.args,
      ...(memcached.args === undefined && { argsLeftOut: true }),
      keepBuilds: memcached.keep_builds ?? memcachedDefaults.keep_builds,
      service: serviceOf(
        memcached.service,
        prefix,
        instanceOf === undefined ? undefined : (memcached.port ?? memcachedDefaults.port),
      ),
      ...(memcached.auth && {
        auth: { userVariable: memcached.auth.user_env, passwordVariable: memcached.auth.password_env },
      }),
      ...(memcached.tls && {
        tls: {
          caFile: local(memcached.tls.ca_file),
          ...(memcached.tls.cert_file !== undefined && { certFile: local(memcached.tls.cert_file) }),
          ...(memcached.tls.key_file !== undefined && { keyFile: local(memcached.tls.key_file) }),
          serverName: memcached.tls.server_name ?? reached.address,
        },
      }),
    },
    become: settings.become ?? hostDefaults.become,
    ...(instanceOf !== undefined && { instanceOf }),
  };
}

// Validation guarantees a systemd service has its unit. `instancePort`: one of several
// instances, whose default pidfile carries its port so the instances never share one.
function serviceOf(service: ServiceDocument = {}, prefix: string, instancePort?: number): ServiceConfig {
  if ((service.manager ?? serviceDefaults.manager) === 'systemd') {
    const unit = service.unit ?? '';
    return {
      manager: 'systemd',
      unit,
      dropIn: service.drop_in ?? `/etc/systemd/system/${unit}.d/memplay.conf`,
    };
  }
  const file = instancePort === undefined ? 'memcached.pid' : `memcached-${instancePort}.pid`;
  return { manager: 'pidfile', pidfile: service.pidfile ?? posix.join(prefix, file) };
}

function strategyOf(strategy: NonNullable<PlaybookDocument['strategy']>): Strategy {
  const serial = strategy.serial ?? strategyDefaults.serial;
  const maxFailedHosts = strategy.max_failed_hosts;
  return {
    serial: (Array.isArray(serial) ? serial : [serial]).map(hostCountOf),
    // A failure budget written without max_fail_percentage decides alone: the
    // default 0 would otherwise stop the run at the first failure, before the budget.
    maxFailPercentage:
      strategy.max_fail_percentage ??
      (maxFailedHosts === undefined ? strategyDefaults.max_fail_percentage : 100),
    ...(maxFailedHosts !== undefined && { maxFailedHosts: hostCountOf(maxFailedHosts) }),
    pauseBetweenBatches: strategy.pause_between_batches ?? strategyDefaults.pause_between_batches,
    confirmBetweenBatches: strategy.confirm_between_batches ?? strategyDefaults.confirm_between_batches,
    // Left out unless set: a playbook without instances resolves as it always has.
    ...((strategy.instances_together ?? strategyDefaults.instances_together) && { instancesTogether: true }),
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
