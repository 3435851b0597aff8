import { posix } from 'node:path';
import { UsageError } from '../errors.js';
import { type MemcachedProcess, type ServiceCheck, unitOfCgroup } from '../facts/memcached-processes.js';
import { listenSettings, optionAt } from '../memcached/listen-address.js';
import { memcachedDefaults } from './document.generated.js';
import type { StarterService } from './starter.js';

// `memplay init --from-running`: from what a host's memcached process is (its
// binary, command line, cgroup) to the playbook settings that describe it
// exactly, so the first `apply --check` finds every host as the playbook says.
// Pure: the probes are in src/facts/memcached-processes.ts.

/** Where the process was looked for: its pidfile or unit (`--pidfile`, `--unit`), else among all memcached processes. */
export type NamedBy = { readonly pidfile: string } | { readonly unit: string } | undefined;

function namedByText(named: Exclude<NamedBy, undefined>): string {
  return 'pidfile' in named ? `the pidfile ${named.pidfile}` : `the unit ${named.unit}`;
}

/** `pid 4242 (mplab1, port 11301): /opt/memcached/current/bin/memcached -p 11301 …`, for messages. */
export function describeProcess(process: MemcachedProcess): string {
  const unit = unitOfCgroup(process.cgroup);
  const where = [process.user, `port ${listenSettings(process.commandLine.slice(1)).port}`];
  if (unit) where.push(`in ${unit}`);
  return `pid ${process.pid} (${where.join(', ')}): ${process.commandLine.map(shownArg).join(' ')}`;
}

/** An argument as messages and comments show it: as is when it is a plain word, else as a JSON string. */
export function shownArg(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : JSON.stringify(arg);
}

/**
 * The one memcached process a host's playbook entry is to describe. With a pidfile or a
 * unit, the process it names; otherwise the memcached processes of the login user (every
 * one for root), narrowed to `port` when given. None, or more than one: a UsageError that
 * names what was found and how to choose.
 */
export function chooseProcess(
  host: string,
  probe: {
    readonly loginUid: number;
    readonly loginUser: string;
    readonly namedPid?: number | null;
    readonly processes: readonly MemcachedProcess[];
  },
  options: { readonly named?: NamedBy; readonly port?: number },
): MemcachedProcess {
  const onPort = (process: MemcachedProcess) =>
    options.port === undefined || listenSettings(process.commandLine.slice(1)).port === options.port;
  const portText = options.port === undefined ? '' : ` on port ${options.port}`;
  if (options.named) {
    const source = namedByText(options.named);
    const process = probe.processes.find((p) => p.pid === probe.namedPid);
    if (!process) {
      const holds =
        probe.namedPid === null || probe.namedPid === undefined
          ? 'pidfile' in options.named
            ? 'holds no pid (it is missing, unreadable or empty)'
            : 'has no running main process (systemctl show -p MainPID)'
          : `names pid ${probe.namedPid}, which is not running`;
      throw new UsageError(
        `${host}: ${source} ${holds} — start memcached, or name the running one with ${'pidfile' in options.named ? '--pidfile' : '--unit'}`,
      );
    }
    if (!isMemcached(process)) {
      throw new UsageError(
        `${host}: ${source} names ${describeProcess(process)}, which is not memcached — name memcached's own pidfile or unit`,
      );
    }
    if (!onPort(process)) {
      throw new UsageError(
        `${host}: ${source} names ${describeProcess(process)}, not a memcached${portText}`,
      );
    }
    return process;
  }
  const mine = probe.processes.filter(
    (p) => isMemcached(p) && (probe.loginUid === 0 || p.uid === probe.loginUid),
  );
  const candidates = mine.filter(onPort);
  if (candidates.length === 1) return candidates[0] as MemcachedProcess;
  const whose = probe.loginUid === 0 ? 'on the host' : `as ${probe.loginUser}`;
  if (candidates.length > 1) {
    throw new UsageError(
      `${host}: ${candidates.length} memcached processes run ${whose}${portText}: ` +
        `${candidates.map(describeProcess).join('; ')} — choose one with --port, or name it with --pidfile or --unit`,
    );
  }
  const others = probe.processes.filter((p) => isMemcached(p) && !mine.includes(p));
  const found = [
    ...mine.map((p) => `${describeProcess(p)} (another port)`),
    ...others.map((p) => `${describeProcess(p)} (another user)`),
  ];
  // A shared machine can run dozens: enough to choose from, not a wall of text.
  const shown = 5;
  const elsewhere = found.length > shown ? [...found.slice(0, shown), `${found.length - shown} more`] : found;
  throw new UsageError(
    `${host}: no memcached runs ${whose}${portText}` +
      (elsewhere.length > 0
        ? `; found ${elsewhere.join('; ')} — choose with --port, log in as its user, or name it with --pidfile or --unit`
        : ' — start it, or check the host and its ssh user'),
  );
}

function isMemcached(process: MemcachedProcess): boolean {
  const program = process.binary ?? process.commandLine[0] ?? '';
  return /^memcached/.test(program.split('/').pop() ?? '');
}

/**
 * What memplay adds to memcached's command line when it starts it: `-d -P <pidfile>
 * -p <port>` with a pidfile (src/service/service.ts), `-p <port>` in the foreground
 * under a unit's drop-in (src/service/drop-in.ts). Those are left out of `args` so
 * none is given twice; `-d` also under a unit, whose drop-in runs memcached as `Type=exec`.
 */
export function playbookArgs(
  commandLineArgs: readonly string[],
  manager: StarterService['manager'],
): { args: string[]; pidfile?: string } {
  const args: string[] = [];
  let pidfile: string | undefined;
  for (let i = 0; i < commandLineArgs.length; ) {
    const daemon = optionAt(commandLineArgs, i, '-d', '--daemon', false);
    const port = optionAt(commandLineArgs, i, '-p', '--port', true);
    const pid = optionAt(commandLineArgs, i, '-P', '--pidfile', true);
    const taken = daemon ?? port ?? (manager === 'pidfile' ? pid : undefined);
    if (pid) pidfile = pid.value;
    if (taken) {
      i += taken.taken;
      continue;
    }
    // Under a unit, -P stays, with its value.
    const width = pid ? pid.taken : 1;
    args.push(...commandLineArgs.slice(i, i + width));
    i += width;
  }
  return { args, ...(pidfile !== undefined && { pidfile }) };
}

/**
 * The memplay prefix the binary was installed under: `<prefix>/<version>/bin/memcached`
 * (the version the binary reports) or `<prefix>/current/bin/memcached`. Null for a
 * binary installed anywhere else, such as a distribution's `/usr/bin/memcached`.
 */
export function memplayPrefix(paths: readonly (string | null)[], version: string | null): string | null {
  for (const path of paths) {
    const match = /^(\/.*[^/])\/([^/]+)\/bin\/memcached$/.exec(path ?? '');
    if (!match) continue;
    const [, prefix, build] = match as unknown as [string, string, string];
    if ((build === 'current' || build === version) && !/(^|\/)\.\.(\/|$)/.test(prefix)) return prefix;
  }
  return null;
}

/** A host's memcached as the playbook is to describe it, with what memplay found and what it could not reproduce. */
export interface FoundMemcached {
  readonly pid: number;
  /** The binary that runs (`/proc/<pid>/exe`, else argv[0]). */
  readonly binary: string;
  readonly version: string | null;
  /** `/proc/<pid>/cmdline`, program first. */
  readonly commandLine: readonly string[];
  readonly port: number;
  /** Null: the binary is not under a memplay prefix (a package install). */
  readonly prefix: string | null;
  readonly args: readonly string[];
  /** Null: neither a pidfile nor a unit could be found to stop it by. */
  readonly service: StarterService | null;
  /** systemd under a login other than root: systemctl and the drop-in need sudo. */
  readonly become: boolean;
  /** Started with `-Y` (ASCII authentication): memplay needs the credentials' variables. */
  readonly auth: boolean;
  /** What the written playbook cannot promise, each a sentence naming the host. */
  readonly warnings: readonly string[];
}

/** Variables the playbook names for `-Y` credentials; the operator sets them before `apply`. */
export const authVariables = { user_env: 'MEMCACHED_USER', password_env: 'MEMCACHED_PASSWORD' } as const;

/** The pidfile and unit worth checking for `process` before `describeRunning` decides how memplay stops it. */
export function serviceCandidates(
  process: MemcachedProcess,
  named: NamedBy,
): { pidfile?: string; unit?: string } {
  if (named) return named;
  const unit = unitOfCgroup(process.cgroup);
  const pidfile = playbookArgs(process.commandLine.slice(1), 'pidfile').pidfile;
  return { ...(unit !== null && { unit }), ...(pidfile !== undefined && { pidfile }) };
}

/**
 * Decides every memcached setting of a host's entry from its process. The service:
 * the pidfile or unit it was named by; else a systemd unit whose MainPID it is; else
 * its `-P` pidfile. `check` is what the host said of those candidates (serviceCandidates).
 */
export function describeRunning(
  host: string,
  process: MemcachedProcess,
  options: { readonly named: NamedBy; readonly check: ServiceCheck; readonly loginUser: string },
): FoundMemcached {
  const warnings: string[] = [];
  const [program = '', ...commandLineArgs] = process.commandLine;
  const binary = process.binary ?? program;
  const { named, check } = options;
  const unit = unitOfCgroup(process.cgroup);
  const pidfileArg = playbookArgs(commandLineArgs, 'pidfile').pidfile;

  let service: StarterService | null = null;
  if (named) {
    service =
      'pidfile' in named
        ? { manager: 'pidfile', pidfile: named.pidfile }
        : { manager: 'systemd', unit: named.unit };
  } else if (unit !== null && check.unitMainPid === process.pid) {
    service = { manager: 'systemd', unit };
  } else if (pidfileArg !== undefined && posix.isAbsolute(pidfileArg)) {
    service = { manager: 'pidfile', pidfile: pidfileArg };
    if (check.pidfilePid !== process.pid) {
      warnings.push(
        `${host}: pid ${process.pid} was started with -P ${pidfileArg}, but that file ${
          check.pidfilePid === null ? 'holds no pid' : `holds pid ${check.pidfilePid}`
        }: memplay finds memcached through its pidfile, so apply would not see this one — write ${process.pid} there, or restart memcached with it`,
      );
    }
  } else {
    warnings.push(
      `${host}: pid ${process.pid} runs with ${
        pidfileArg === undefined ? 'no pidfile (-P)' : `a relative pidfile (-P ${shownArg(pidfileArg)})`
      } and in no systemd unit memplay can confirm: memplay stops memcached only through an absolute pidfile or a unit, so service is left at its default — name it with --pidfile or --unit, or restart memcached with -P /absolute/path`,
    );
  }

  const manager = service?.manager ?? 'pidfile';
  const { args } = playbookArgs(commandLineArgs, manager);
  const { port } = listenSettings(commandLineArgs);
  if (port === 0) {
    warnings.push(
      `${host}: pid ${process.pid} listens on no TCP port (-p 0): memplay reaches memcached over TCP, through the host's ssh connection, and cannot back it up`,
    );
  }

  const prefix = memplayPrefix([process.binary, program], process.version);
  if (prefix === null) {
    warnings.push(
      `${host}: ${binary}${process.version ? ` (${process.version})` : ''} is not a build under a memplay prefix ` +
        '(<prefix>/<version>/bin/memcached or <prefix>/current/bin/memcached), such as a package install: memplay ' +
        `cannot yet upgrade a package install in place — memcached.prefix is left at its default, ${memcachedDefaults.prefix}`,
    );
  }

  const auth = commandLineArgs.some(
    (arg) => arg === '-Y' || arg.startsWith('--auth-file') || /^-Y./.test(arg),
  );
  if (auth) {
    warnings.push(
      `${host}: memcached runs with -Y (ASCII authentication): set ${authVariables.user_env} and ${authVariables.password_env} ` +
        'to a user and password of its authfile before memplay apply, or rename them in memcached.auth',
    );
  }

  return {
    pid: process.pid,
    binary,
    version: process.version,
    commandLine: process.commandLine,
    port,
    prefix,
    args,
    service,
    become: service?.manager === 'systemd' && options.loginUser !== 'root',
    auth,
    warnings,
  };
}

/** One host of the written playbook: how it was reached and what runs there. */
export interface RunningHost {
  readonly name: string;
  readonly address: string;
  /** Only what the host spec or the flags said; the rest comes from the ssh config or memplay's defaults. */
  readonly ssh: { readonly user?: string; readonly port?: number };
  readonly found: FoundMemcached;
}

/** The settings a host entry (or `defaults`) carries, by their path in the playbook. */
export interface HostSettings {
  'ssh.user'?: string;
  'ssh.port'?: number;
  'memcached.port'?: number;
  'memcached.prefix'?: string;
  'memcached.args'?: readonly string[];
  'memcached.service'?: StarterService;
  'memcached.auth'?: typeof authVariables;
  become?: boolean;
}

export type SettingKey = keyof HostSettings;

export const settingKeys: readonly SettingKey[] = [
  'ssh.user',
  'ssh.port',
  'memcached.port',
  'memcached.prefix',
  'memcached.args',
  'memcached.service',
  'memcached.auth',
  'become',
];

function settingsOf(host: RunningHost): HostSettings {
  const { found } = host;
  return {
    ...(host.ssh.user !== undefined && { 'ssh.user': host.ssh.user }),
    ...(host.ssh.port !== undefined && { 'ssh.port': host.ssh.port }),
    'memcached.port': found.port,
    ...(found.prefix !== null && { 'memcached.prefix': found.prefix }),
    'memcached.args': found.args,
    ...(found.service !== null && { 'memcached.service': found.service }),
    ...(found.auth && { 'memcached.auth': authVariables }),
    ...(found.become && { become: true }),
  };
}

export interface FleetLayout {
  /** What every host has, with the same value. */
  readonly defaults: HostSettings;
  /** Each host with only what differs from the others. */
  readonly hosts: readonly { readonly host: RunningHost; readonly own: HostSettings }[];
}

/**
 * Shared values go to `defaults`, the rest stays with each host: a setting is shared
 * when every host has it with the same value. A host's own value then never needs to
 * override a default, so what each host gets is exactly what it runs.
 */
export function fleetLayout(hosts: readonly RunningHost[]): FleetLayout {
  const all = hosts.map(settingsOf);
  const defaults: HostSettings = {};
  for (const key of settingKeys) {
    const values = all.map((settings) => settings[key]);
    const first = values[0];
    if (first !== undefined && values.every((value) => JSON.stringify(value) === JSON.stringify(first))) {
      Object.assign(defaults, { [key]: first });
    }
  }
  return {
    defaults,
    hosts: hosts.map((host, index) => {
      const own: HostSettings = {};
      for (const key of settingKeys) {
        const value = all[index]?.[key];
        if (value !== undefined && !(key in defaults)) Object.assign(own, { [key]: value });
      }
      return { host, own };
    }),
  };
}
