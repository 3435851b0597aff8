import { existsSync } from 'node:fs';
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { UsageError } from '../errors.js';
import { fileSha256 } from '../file-sha256.js';
import { memcachedDefaults, playbookDefaults, sshDefaults } from '../playbook/document.generated.js';
import { fleetLayout } from '../playbook/from-running.js';
import { validatePlaybookFile } from '../playbook/index.js';
import { type RunningPlaybookSettings, renderRunningPlaybook } from '../playbook/running-starter.js';
import {
  releaseUrl,
  renderStarterPlaybook,
  type StarterHost,
  type StarterService,
  type StarterSettings,
  schemaReference,
} from '../playbook/starter.js';
import { projectFile } from '../project-root.js';
import { ExitCode } from './exit-codes.js';
import { parseHostSpecs, readRunningFleet } from './init-from-running.js';

// `memplay init`: a commented starter playbook from flags, or from questions on a
// terminal for what the flags left out; with --from-running, one that describes what
// the hosts run now (src/cli/init-from-running.ts). The file is validated before it is kept.

export interface InitFlags {
  readonly hosts?: string;
  readonly version?: string;
  readonly sha256?: string;
  readonly source?: string;
  readonly user?: string;
  readonly port?: string;
  readonly sshPort?: string;
  readonly serial?: string;
  readonly prefix?: string;
  readonly backupDir?: string;
  readonly name?: string;
  readonly identityFile?: string;
  readonly knownHosts?: string;
  readonly pidfile?: string;
  readonly unit?: string;
  /** `[name=][user@]address[:sshport]` each (or comma-separated): read the playbook from what these hosts run. */
  readonly fromRunning?: readonly string[];
  readonly acceptNewHostKeys?: boolean;
  readonly verbose?: boolean;
  readonly force: boolean;
}

/** Asks one question; the default is taken on an empty answer. */
export type Ask = (question: string, fallback?: string) => Promise<string>;

/** `cache1,cache2` or `cache1=10.0.0.11,…`: a bare entry is both the name and the address. */
export function parseHosts(value: string): StarterHost[] {
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0)
    throw new UsageError('--hosts needs at least one host, e.g. --hosts cache1,cache2');
  const hosts = entries.map((entry) => {
    const [name = '', address = name] = entry.split('=', 2).map((part) => part.trim());
    return { name, address };
  });
  const seen = new Set<string>();
  for (const { name } of hosts) {
    if (seen.has(name)) throw new UsageError(`--hosts names ${name} twice`);
    seen.add(name);
  }
  return hosts;
}

function parsePort(flag: string, value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65_535)
    throw new UsageError(`${flag} must be a port from 1 to 65535, got "${value}"`);
  return port;
}

function parseSerial(value: string): number | string {
  return /^\d+$/.test(value) ? Number(value) : value;
}

/** A local tarball's checksum is computed rather than asked for. */
async function sha256OfLocal(path: string): Promise<string | undefined> {
  const isFile = await stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
  return isFile ? fileSha256(path) : undefined;
}

/** Asks for what the flags leave out (on a terminal), else remembers the flag to name in one refusal. */
function questioner(ask: Ask | undefined) {
  const missing: string[] = [];
  return {
    async need(flag: string, given: string | undefined, question: string, fallback?: string) {
      if (given !== undefined) return given;
      if (ask) return ask(question, fallback);
      if (fallback !== undefined) return fallback;
      missing.push(flag);
      return '';
    },
    refuseMissing(): void {
      if (missing.length === 0) return;
      throw new UsageError(
        `memplay init needs ${missing.join(', ')}: give ${missing.length === 1 ? 'it' : 'them'} as flags, or run it on a terminal to be asked`,
      );
    },
  };
}

type Need = ReturnType<typeof questioner>['need'];

/** The release to upgrade to: version, tarball and its sha256 (computed for a local tarball). */
async function resolveTarget(
  flags: InitFlags,
  playbookDir: string,
  need: Need,
): Promise<Pick<StarterSettings, 'version' | 'source' | 'sha256'>> {
  const version = await need('--version', flags.version, 'memcached version to upgrade to (e.g. 1.6.38)');
  const sourceText = await need(
    '--source',
    flags.source,
    'Source tarball (a path on this machine, or a URL)',
    // Without a version the run stops at --version below; the URL is never used then.
    releaseUrl(version),
  );
  const source = /^https?:\/\//.test(sourceText)
    ? ({ kind: 'url', url: sourceText } as const)
    : ({ kind: 'path', path: sourceText } as const);
  const computed =
    source.kind === 'path' && sourceText ? await sha256OfLocal(resolve(playbookDir, sourceText)) : undefined;
  const sha256 = await need(
    '--sha256',
    flags.sha256 ?? computed,
    'sha256 of the tarball (as sha256sum prints it)',
  );
  return { version, source, sha256 };
}

/** A controller path from the command line: `~` is kept for the playbook, anything else made absolute. */
function controllerPath(path: string): string {
  return path === '~' || path.startsWith('~/') ? path : resolve(path);
}

/** `--identity-file` and `--known-hosts` as the playbook writes them. */
export function sshFiles(flags: InitFlags): Pick<StarterSettings, 'identityFile' | 'knownHosts'> {
  return {
    ...(flags.identityFile !== undefined && { identityFile: controllerPath(flags.identityFile) }),
    ...(flags.knownHosts !== undefined && { knownHosts: controllerPath(flags.knownHosts) }),
  };
}

function serviceOf(flags: InitFlags): StarterService | undefined {
  if (flags.pidfile !== undefined && flags.unit !== undefined) {
    throw new UsageError('--pidfile and --unit name two ways to stop memcached: give one');
  }
  if (flags.pidfile !== undefined) return { manager: 'pidfile', pidfile: flags.pidfile };
  if (flags.unit !== undefined) return { manager: 'systemd', unit: flags.unit };
  return undefined;
}

/**
 * The settings the flags give, with what they leave out asked through `ask`
 * (a terminal), or refused with the flags to add when there is none.
 */
export async function resolveInitSettings(
  flags: InitFlags,
  playbookDir: string,
  ask: Ask | undefined,
): Promise<StarterSettings> {
  const { need, refuseMissing } = questioner(ask);
  const hostsText = await need('--hosts', flags.hosts, 'Hosts (name or name=address, comma-separated)');
  const { version, source, sha256 } = await resolveTarget(flags, playbookDir, need);
  // Left out, the playbook says nothing and memplay logs in as whoever runs it.
  const user = flags.user ?? (ask ? await ask('SSH user', userInfo().username) : undefined);
  const port = await need('--port', flags.port, 'memcached port', String(memcachedDefaults.port));
  const serial = await need(
    '--serial',
    flags.serial,
    'Hosts out of service at once (a count, or e.g. 25%)',
    String(playbookDefaults.strategy.serial),
  );
  refuseMissing();
  const service = serviceOf(flags);
  return {
    name: flags.name ?? `upgrade to ${version}`,
    hosts: parseHosts(hostsText),
    version,
    source,
    sha256,
    ...(user ? { user } : {}),
    sshPort: parsePort('--ssh-port', flags.sshPort ?? String(sshDefaults.port)),
    port: parsePort('--port', port),
    prefix: flags.prefix ?? memcachedDefaults.prefix,
    serial: parseSerial(serial),
    backupDir: flags.backupDir ?? playbookDefaults.backup.dir,
    ...sshFiles(flags),
    ...(service && { service }),
  };
}

/** `--from-running`: the target and rollout from the flags (or asked); the hosts' settings come from the hosts. */
export async function resolveRunningSettings(
  flags: InitFlags,
  playbookDir: string,
  ask: Ask | undefined,
): Promise<RunningPlaybookSettings> {
  for (const [flag, given] of [
    ['--hosts', flags.hosts],
    ['--prefix', flags.prefix],
  ] as const) {
    if (given !== undefined) {
      throw new UsageError(
        `${flag} does not go with --from-running, which reads each host's ${flag === '--hosts' ? 'hosts from its list' : 'prefix from where its memcached binary is'}`,
      );
    }
  }
  const service = serviceOf(flags);
  // The pidfile is read on each host: a relative one would be taken from the login's home there.
  if (service?.manager === 'pidfile' && !service.pidfile.startsWith('/')) {
    throw new UsageError(`--pidfile must be an absolute path on the hosts, got "${service.pidfile}"`);
  }
  const { need, refuseMissing } = questioner(ask);
  const { version, source, sha256 } = await resolveTarget(flags, playbookDir, need);
  const serial = await need(
    '--serial',
    flags.serial,
    'Hosts out of service at once (a count, or e.g. 25%)',
    String(playbookDefaults.strategy.serial),
  );
  refuseMissing();
  return {
    name: flags.name ?? `upgrade to ${version}`,
    version,
    source,
    sha256,
    serial: parseSerial(serial),
    backupDir: flags.backupDir ?? playbookDefaults.backup.dir,
    ...sshFiles(flags),
  };
}

function terminalAsk(): { ask: Ask; close(): void } {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  return {
    async ask(question, fallback) {
      const answer = (await rl.question(`${question}${fallback ? ` [${fallback}]` : ''}: `)).trim();
      return answer || fallback || '';
    },
    close: () => rl.close(),
  };
}

/**
 * Validates `text` beside its destination and renames it into place only when it
 * is valid: a bad flag leaves no file behind. Returns the problems, empty when written.
 */
export async function writeValidPlaybook(path: string, text: string): Promise<string[]> {
  const staging = join(dirname(path), `.${basename(path)}.memplay-init-${process.pid}.yml`);
  await writeFile(staging, text, { mode: 0o644 });
  try {
    const problems = await validatePlaybookFile(staging);
    if (problems.length > 0) return problems.map((d) => d.message);
    await rename(staging, path);
    return [];
  } finally {
    await rm(staging, { force: true });
  }
}

/** The `yaml-language-server` schema reference for a playbook written at `path`. */
export function schemaReferenceFor(path: string): string {
  return schemaReference(dirname(path), projectFile('schemas/playbook.schema.json'));
}

export const today = () => new Date().toISOString().slice(0, 10);

/** Renders the starter playbook and writes it if it is valid (see writeValidPlaybook). */
export async function writeStarterPlaybook(file: string, settings: StarterSettings): Promise<string[]> {
  const path = resolve(file);
  return writeValidPlaybook(path, renderStarterPlaybook(settings, schemaReferenceFor(path), today()));
}

/** Refuses a playbook the settings made invalid; else says it was written and what to run next. */
export function reportWritten(file: string, problems: readonly string[]): ExitCode {
  if (problems.length > 0) {
    throw new UsageError(
      `the playbook these answers make is not valid, so ${file} was not written:\n${problems.map((p) => `  ${p}`).join('\n')}`,
    );
  }
  process.stdout.write(
    `${file}: written and valid — next: memplay validate ${file}, then memplay apply ${file} --check\n`,
  );
  return ExitCode.ok;
}

/**
 * `--from-running`: reads every host (nothing is changed there), then writes the
 * playbook that describes them if it is valid. What it could not reproduce is
 * written into the file beside the host and said on stderr.
 */
async function initFromRunning(
  file: string,
  flags: InitFlags,
  settings: RunningPlaybookSettings,
): Promise<ExitCode> {
  const specs = parseHostSpecs(flags.fromRunning ?? [], {
    ...(flags.user !== undefined && { user: flags.user }),
    ...(flags.sshPort !== undefined && { port: parsePort('--ssh-port', flags.sshPort) }),
  });
  const service = serviceOf(flags);
  const path = resolve(file);
  const hosts = await readRunningFleet(specs, {
    named: service && (service.manager === 'pidfile' ? { pidfile: service.pidfile } : { unit: service.unit }),
    ...(flags.port !== undefined && { port: parsePort('--port', flags.port) }),
    ...(settings.identityFile !== undefined && { identityFile: settings.identityFile }),
    ...(settings.knownHosts !== undefined && { knownHosts: settings.knownHosts }),
    acceptNewHostKeys: flags.acceptNewHostKeys ?? false,
    verbose: flags.verbose ?? false,
    playbookDir: dirname(path),
  });
  const text = renderRunningPlaybook(fleetLayout(hosts), settings, schemaReferenceFor(path), today());
  const problems = await writeValidPlaybook(path, text);
  for (const warning of hosts.flatMap((host) => host.found.warnings)) {
    process.stderr.write(`memplay: warning: ${warning}\n`);
  }
  return reportWritten(file, problems);
}

export async function initCommand(file: string, flags: InitFlags): Promise<ExitCode> {
  if (existsSync(file) && !flags.force) {
    throw new UsageError(`${file} already exists: choose another path, or add --force to overwrite it`);
  }
  const terminal = process.stdin.isTTY && process.stderr.isTTY ? terminalAsk() : undefined;
  if (flags.fromRunning !== undefined) {
    let settings: RunningPlaybookSettings;
    try {
      settings = await resolveRunningSettings(flags, dirname(resolve(file)), terminal?.ask);
    } finally {
      terminal?.close();
    }
    return initFromRunning(file, flags, settings);
  }
  let settings: StarterSettings;
  try {
    settings = await resolveInitSettings(flags, dirname(resolve(file)), terminal?.ask);
  } finally {
    terminal?.close();
  }
  return reportWritten(file, await writeStarterPlaybook(file, settings));
}
