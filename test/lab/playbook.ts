import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Lab, LabHost } from './layout.js';
import { tarballPath } from './layout.js';
import { pinnedSha256 } from './sources.js';
import { writeKnownHosts } from './sshd.js';

/** What a variant of the lab playbook changes; everything left out is as in `<lab>/fleet.yml`. */
export interface FleetOverrides {
  /** Target version; source path and sha256 default to that version's cached, pinned tarball. */
  readonly version?: string;
  readonly sha256?: string;
  readonly sourcePath?: string;
  /** strategy.serial: a count, a percentage or a list of them (default 1). */
  readonly serial?: Serial;
  readonly maxFailPercentage?: number;
  /** strategy.max_failed_hosts (default: left out). */
  readonly maxFailedHosts?: number | string;
  /** strategy.pause_between_batches, seconds (default: left out). */
  readonly pauseBetweenBatches?: number;
  /** strategy.confirm_between_batches (default: left out). */
  readonly confirmBetweenBatches?: boolean;
  /** 1-based indexes of the hosts to list (default: all). */
  readonly hosts?: readonly number[];
  /** A known_hosts file to use instead of the lab's. */
  readonly knownHosts?: string;
  /** Use a known_hosts written without these hosts' keys (1-based); `[1, 2, 3]` gives an empty one. */
  readonly knownHostsWithout?: readonly number[];
  /** Instead of `<lab>/backups`. */
  readonly backupDir?: string;
  /** A private key instead of the lab's (e.g. an encrypted copy of it). */
  readonly identityFile?: string;
  /** `memcached.args` instead of `["-l", "127.0.0.1", "-m", "256"]`. */
  readonly memcachedArgs?: readonly string[];
  /** `target.configure` (default: none). */
  readonly configure?: readonly string[];
  /** A `verify:` section (default: none, so every default applies). */
  readonly verify?: VerifyOverrides;
  /** `swap.mode` (default: left out, which is `auto`). */
  readonly swapMode?: 'auto' | 'warm' | 'cold' | 'handover';
  /** `verify.full` (default: left out, which is false). */
  readonly verifyFull?: boolean;
}

export type Serial = number | string | readonly (number | string)[];

export interface VerifyOverrides {
  readonly sample?: number;
  readonly accept_settings?: readonly string[];
  readonly max_latency_regression?: number | string;
  readonly min_throughput_ratio?: number;
  readonly full?: boolean;
}

// Paths and names are quoted only when YAML would read them as something else.
function scalar(value: string): string {
  return /^[A-Za-z0-9_./@+-]+$/.test(value) && !/^[0-9.+-]+$/.test(value) ? value : JSON.stringify(value);
}

function hostEntry(host: LabHost): string {
  return `  ${host.name}:
    address: 127.0.0.1
    ssh: { port: ${host.sshPort}, user: ${host.user} }
    memcached:
      port: ${host.memcachedPort}
      prefix: ${scalar(host.prefix)}
      service: { manager: pidfile, pidfile: ${scalar(host.pidfile)} }
`;
}

function groups(hosts: readonly LabHost[]): string {
  const east = hosts.filter((h) => h.index === 1).map((h) => h.name);
  const west = hosts.filter((h) => h.index !== 1).map((h) => h.name);
  const lines = [
    east.length > 0 ? `  east: [${east.join(', ')}]\n` : '',
    west.length > 0 ? `  west: [${west.join(', ')}]\n` : '',
  ].join('');
  return lines ? `groups:\n${lines}` : '';
}

export function fleetPlaybook(
  lab: Lab,
  settings: {
    version: string;
    sourcePath: string;
    sha256: string;
    serial: Serial;
    /** Left out of the file when undefined. */
    maxFailPercentage?: number;
    maxFailedHosts?: number | string;
    pauseBetweenBatches?: number;
    confirmBetweenBatches?: boolean;
    hosts: readonly LabHost[];
    knownHosts: string;
    backupDir?: string;
    identityFile?: string;
    memcachedArgs?: readonly string[];
    configure?: readonly string[];
    verify?: VerifyOverrides;
    swapMode?: 'auto' | 'warm' | 'cold' | 'handover';
    verifyFull?: boolean;
  },
): string {
  const swap = settings.swapMode ? `swap:\n  mode: ${settings.swapMode}\n` : '';
  const rollout = [
    settings.maxFailPercentage !== undefined ? `  max_fail_percentage: ${settings.maxFailPercentage}\n` : '',
    settings.maxFailedHosts !== undefined
      ? `  max_failed_hosts: ${JSON.stringify(settings.maxFailedHosts)}\n`
      : '',
    settings.pauseBetweenBatches !== undefined
      ? `  pause_between_batches: ${settings.pauseBetweenBatches}\n`
      : '',
    settings.confirmBetweenBatches !== undefined
      ? `  confirm_between_batches: ${settings.confirmBetweenBatches}\n`
      : '',
  ].join('');
  const args = settings.memcachedArgs ?? ['-l', '127.0.0.1', '-m', '256'];
  const configure = settings.configure ? `  configure: ${JSON.stringify(settings.configure)}\n` : '';
  // JSON is YAML: each value written as JSON keeps its type.
  const verifySettings = {
    ...settings.verify,
    ...(settings.verifyFull !== undefined && { full: settings.verifyFull }),
  };
  const verify =
    Object.keys(verifySettings).length > 0
      ? `verify:\n${Object.entries(verifySettings)
          .map(([key, value]) => `  ${key}: ${JSON.stringify(value)}\n`)
          .join('')}`
      : '';
  return `# yaml-language-server: $schema=${join(lab.repoRoot, 'schemas', 'playbook.schema.json')}
name: lab upgrade to ${settings.version}
target:
  version: ${JSON.stringify(settings.version)}
  source:
    path: ${scalar(settings.sourcePath)}
    sha256: ${scalar(settings.sha256)}
${configure}defaults:
  ssh:
    identity_file: ${scalar(settings.identityFile ?? lab.identityFile)}
    known_hosts: ${scalar(settings.knownHosts)}
  memcached:
    args: [${args.map((arg) => JSON.stringify(arg)).join(', ')}]
strategy:
  serial: ${JSON.stringify(settings.serial)}
${rollout}backup:
  dir: ${scalar(settings.backupDir ?? join(lab.dir, 'backups'))}
${swap}${verify}hosts:
${settings.hosts.map(hostEntry).join('')}${groups(settings.hosts)}`;
}

/**
 * Writes the lab playbook, or a variant of it, and returns its path: `<lab>/fleet.yml`
 * without overrides, otherwise `<lab>/playbooks/fleet-<hash of the overrides>.yml`.
 */
export async function writeFleetPlaybook(lab: Lab, overrides: FleetOverrides = {}): Promise<string> {
  const version = overrides.version ?? lab.targetVersion;
  const sha256 = overrides.sha256 ?? pinnedSha256().get(version);
  if (!sha256) throw new Error(`lab: no pinned sha256 for memcached ${version}; pass overrides.sha256`);
  const hosts = overrides.hosts
    ? overrides.hosts.map((i) => {
        const host = lab.hosts[i - 1];
        if (!host) throw new Error(`lab: no host ${i} (the lab has ${lab.hosts.length})`);
        return host;
      })
    : lab.hosts;

  const variant = Object.keys(overrides).length > 0;
  const id = createHash('sha256').update(JSON.stringify(overrides)).digest('hex').slice(0, 12);
  const dir = variant ? join(lab.dir, 'playbooks') : lab.dir;
  await mkdir(dir, { recursive: true });

  let knownHosts = overrides.knownHosts ?? lab.knownHosts;
  if (overrides.knownHostsWithout) {
    const without = new Set(overrides.knownHostsWithout);
    knownHosts = join(dir, `known_hosts-${id}`);
    await writeKnownHosts(
      lab,
      knownHosts,
      lab.hosts.filter((h) => !without.has(h.index)),
    );
  }

  const path = variant ? join(dir, `fleet-${id}.yml`) : lab.playbook;
  const text = fleetPlaybook(lab, {
    version,
    sourcePath: overrides.sourcePath ?? tarballPath(version),
    sha256,
    serial: overrides.serial ?? 1,
    // With a failure budget and no max_fail_percentage, the budget alone decides (its default).
    ...((overrides.maxFailPercentage !== undefined || overrides.maxFailedHosts === undefined) && {
      maxFailPercentage: overrides.maxFailPercentage ?? 0,
    }),
    hosts,
    knownHosts,
    ...(overrides.backupDir !== undefined && { backupDir: overrides.backupDir }),
    ...(overrides.identityFile !== undefined && { identityFile: overrides.identityFile }),
    ...(overrides.memcachedArgs !== undefined && { memcachedArgs: overrides.memcachedArgs }),
    ...(overrides.configure !== undefined && { configure: overrides.configure }),
    ...(overrides.verify !== undefined && { verify: overrides.verify }),
    ...(overrides.swapMode !== undefined && { swapMode: overrides.swapMode }),
    ...(overrides.verifyFull !== undefined && { verifyFull: overrides.verifyFull }),
    ...(overrides.maxFailedHosts !== undefined && { maxFailedHosts: overrides.maxFailedHosts }),
    ...(overrides.pauseBetweenBatches !== undefined && {
      pauseBetweenBatches: overrides.pauseBetweenBatches,
    }),
    ...(overrides.confirmBetweenBatches !== undefined && {
      confirmBetweenBatches: overrides.confirmBetweenBatches,
    }),
  });
  await writeFile(path, text);
  return path;
}
