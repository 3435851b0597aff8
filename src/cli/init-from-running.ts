import { forEachLimited } from '../engine/batches.js';
import { errorMessage, HostUnreachable, UsageError } from '../errors.js';
import { checkService, probeMemcachedProcesses } from '../facts/memcached-processes.js';
import {
  chooseProcess,
  describeRunning,
  type NamedBy,
  type RunningHost,
  serviceCandidates,
} from '../playbook/from-running.js';
import { controllerEnvironment, localPath } from '../playbook/resolve.js';
import { parseJump, resolveSsh, type SshDocument, sshConfigPath } from '../playbook/ssh-settings.js';
import type { RunEvent } from '../report/events.js';
import { hostKeyAcceptedLine, plainRenderer } from '../report/plain.js';
import { loadSshConfig, type SshConfigFile } from '../transport/ssh-config.js';
import type { Transport } from '../transport/transport.js';
import { connector } from './run-job.js';

// `memplay init --from-running HOST…`: logs in to each host as `apply` would (the
// ssh config, strict host keys), reads which memcached runs there and how, and
// changes nothing. The playbook is made from it in src/playbook/from-running.ts.

/** One host of `--from-running`, as the operator wrote it. */
export interface HostSpec {
  readonly name: string;
  /** An address, or a Host alias of the ssh config. */
  readonly address: string;
  readonly user?: string;
  readonly port?: number;
}

const hostsInParallel = 10;

function nameFrom(text: string): string {
  return text.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'host';
}

/**
 * `[name=][user@]address[:sshport]`, several per value when comma-separated. A host
 * without a name is named after its address, and after its address and ssh port
 * where several share the address (`127.0.0.1-2201`). `defaults`: `--user` and
 * `--ssh-port`, for specs that leave them out.
 */
export function parseHostSpecs(
  values: readonly string[],
  defaults: { readonly user?: string; readonly port?: number } = {},
): HostSpec[] {
  const entries = values
    .flatMap((value) => value.split(','))
    .map((entry) => entry.trim())
    .filter(Boolean);
  if (entries.length === 0) {
    throw new UsageError(
      '--from-running needs at least one host, e.g. --from-running deploy@10.0.0.11 cache-a2 10.0.0.13:2222',
    );
  }
  const parsed = entries.map((entry) => {
    const equals = entry.indexOf('=');
    const name = equals >= 0 ? entry.slice(0, equals).trim() : undefined;
    const { user, host, port } = parseJump(equals >= 0 ? entry.slice(equals + 1).trim() : entry);
    if (port !== undefined && (port < 1 || port > 65_535)) {
      throw new UsageError(`--from-running ${entry}: the ssh port must be from 1 to 65535`);
    }
    const spec = {
      address: host,
      ...((user ?? defaults.user) !== undefined && { user: user ?? defaults.user }),
      ...((port ?? defaults.port) !== undefined && { port: port ?? defaults.port }),
    };
    return { name, spec };
  });
  const unnamed = parsed.filter((p) => p.name === undefined);
  const count = (key: (p: (typeof parsed)[number]) => string) => (p: (typeof parsed)[number]) =>
    unnamed.filter((other) => key(other) === key(p)).length;
  const byAddress = count((p) => p.spec.address);
  const byPort = count((p) => `${p.spec.address}:${p.spec.port ?? 22}`);
  const hosts = parsed.map((p): HostSpec => {
    const { spec } = p;
    const name =
      p.name ??
      nameFrom(
        byAddress(p) === 1
          ? spec.address
          : byPort(p) === 1
            ? `${spec.address}-${spec.port ?? 22}`
            : `${spec.user === undefined ? '' : `${spec.user}-`}${spec.address}-${spec.port ?? 22}`,
      );
    return { name, ...spec };
  });
  const seen = new Set<string>();
  for (const { name } of hosts) {
    if (seen.has(name))
      throw new UsageError(
        `--from-running names ${name} twice: give each host once, or name them (name=host)`,
      );
    seen.add(name);
  }
  return hosts;
}

export interface ReadOptions {
  /** `--pidfile` or `--unit`: where every host's memcached is found. */
  readonly named: NamedBy;
  /** `--port`: the memcached to describe when a host runs several. */
  readonly port?: number;
  /** As the playbook will say them (`~` kept): `--identity-file`, `--known-hosts`. */
  readonly identityFile?: string;
  readonly knownHosts?: string;
  readonly acceptNewHostKeys: boolean;
  readonly verbose: boolean;
  /** The playbook's folder: relative controller paths are taken from it, as the playbook will. */
  readonly playbookDir: string;
}

/** Each spec's connection settings, resolved as the written playbook's hosts will be (src/playbook/ssh-settings.ts). */
async function connectionTargets(specs: readonly HostSpec[], options: ReadOptions) {
  const environment = controllerEnvironment();
  const local = (path: string) => localPath(path, options.playbookDir, environment.homeDir);
  const configs = new Map<string, SshConfigFile>();
  const targets = [];
  for (const spec of specs) {
    const ssh: SshDocument = {
      ...(spec.user !== undefined && { user: spec.user }),
      ...(spec.port !== undefined && { port: spec.port }),
      ...(options.identityFile !== undefined && { identity_file: options.identityFile }),
      ...(options.knownHosts !== undefined && { known_hosts: options.knownHosts }),
    };
    const path = sshConfigPath(ssh, local, environment.sshConfigFile);
    let config = path === undefined ? undefined : configs.get(path);
    if (path !== undefined && config === undefined) {
      config = await loadSshConfig(path, environment.homeDir).catch((error: unknown) => {
        throw new UsageError(
          `cannot read ssh config ${path} (${(error as Error).message}); fix the file, or set MEMPLAY_SSH_CONFIG=none`,
        );
      });
      if (config.missing && environment.sshConfigFile !== undefined) {
        throw new UsageError(
          `MEMPLAY_SSH_CONFIG=${environment.sshConfigFile}: ${path} does not exist; give the path of an OpenSSH client config, or none to read no config`,
        );
      }
      configs.set(path, config);
    }
    const reached = resolveSsh(spec.address, ssh, {
      homeDir: environment.homeDir,
      userName: environment.userName,
      local,
      ...(config && { config }),
    });
    targets.push({
      spec,
      target: { name: spec.name, address: reached.address, connection: 'ssh' as const, ssh: reached.ssh },
    });
  }
  return targets;
}

async function readHost(spec: HostSpec, transport: Transport, options: ReadOptions): Promise<RunningHost> {
  const probe = await probeMemcachedProcesses(transport, options.named ?? {});
  const process = chooseProcess(spec.name, probe, {
    named: options.named,
    ...(options.port !== undefined && { port: options.port }),
  });
  const check = await checkService(transport, serviceCandidates(process, options.named));
  const found = describeRunning(spec.name, process, {
    named: options.named,
    check,
    loginUser: probe.loginUser,
  });
  return {
    name: spec.name,
    address: spec.address,
    ssh: {
      ...(spec.user !== undefined && { user: spec.user }),
      ...(spec.port !== undefined && { port: spec.port }),
    },
    found,
  };
}

/** One message for every host that could not be described: exit 3 when one was not reached, else 5. */
function notDescribed(problems: readonly { host: string; error: unknown }[], total: number): Error {
  const lines = problems.map(({ host, error }) => {
    const message = errorMessage(error);
    return message.startsWith(`${host}:`) ? message : `${host}: ${message}`;
  });
  const text =
    `${lines.join('\n  ')}\n` +
    `${problems.length} of ${total} host${total === 1 ? '' : 's'} could not be described, so nothing was written`;
  const unreachable = problems.find(({ error }) => !(error instanceof UsageError));
  if (!unreachable) return new UsageError(text);
  const reason = unreachable.error instanceof HostUnreachable ? unreachable.error.reason : 'connect';
  const first = problems[0] as { host: string };
  return new HostUnreachable(first.host, reason, text.slice(first.host.length + 2));
}

/**
 * Logs in to every host (up to 10 at once), finds its memcached and describes it.
 * Read-only: the only commands are the probes in src/facts/memcached-processes.ts.
 */
export async function readRunningFleet(
  specs: readonly HostSpec[],
  options: ReadOptions,
): Promise<RunningHost[]> {
  const targets = await connectionTargets(specs, options);
  const verboseLines = plainRenderer((line) => process.stderr.write(`${line}\n`), true);
  const sink = (event: RunEvent) => {
    if (event.event === 'host-key-accepted') process.stderr.write(`${hostKeyAcceptedLine(event)}\n`);
    if (event.event === 'command' && options.verbose) verboseLines(event);
  };
  const connections = connector({ acceptNewHostKeys: options.acceptNewHostKeys }, sink);
  const found = new Map<string, RunningHost>();
  const problems = new Map<string, unknown>();
  try {
    await forEachLimited(targets, hostsInParallel, async ({ spec, target }) => {
      let transport: Transport | undefined;
      try {
        transport = await connections.open(target);
        found.set(spec.name, await readHost(spec, transport, options));
      } catch (error) {
        problems.set(spec.name, error);
      } finally {
        await transport?.close().catch(() => {});
      }
    });
  } finally {
    await connections.close();
  }
  if (problems.size > 0) {
    throw notDescribed(
      specs
        .filter((spec) => problems.has(spec.name))
        .map((spec) => ({ host: spec.name, error: problems.get(spec.name) })),
      specs.length,
    );
  }
  return specs.map((spec) => found.get(spec.name) as RunningHost);
}
