import { carriesArgs, hostAsRun } from '../facts/carried-args.js';
import type { FleetFacts } from '../facts/fleet-facts.js';
import { describePackageInstall, packageHoldWarning } from '../facts/package-install.js';
import { describeTransfer } from '../transport/transport.js';
import { formatBytes, formatCount } from '../units.js';
import { formatTable } from './table.js';

// `memplay facts` as a table for people and as JSON lines for programs: one
// `facts` object per reachable host, an `unreachable` one (as in apply's output)
// per host that could not be reached, in playbook order.

export interface FactsEvent {
  readonly event: 'facts';
  readonly host: string;
  readonly address: string;
  /** What the memcached port answers to `version`; null when nothing answers. */
  readonly running_version: string | null;
  readonly pid: number | null;
  /** The pid's command line (`/proc/<pid>/cmdline`); null without a live pid. */
  readonly command_line: readonly string[] | null;
  /** Why the running memcached and the playbook disagree (apply and --check fail the host for it); null: they agree. */
  readonly problem: string | null;
  /** How a build's files would reach the host: `sftp`, `exec-stream` (its sshd refuses the SFTP subsystem) or `local`. */
  readonly transfer: 'sftp' | 'exec-stream' | 'local';
  /** systemd hosts: the distribution's package install the unit runs (or ran before memplay's drop-in); null: none. Absent: a pidfile host. */
  readonly package?: PackageFacts | null;
  /** The builds `<prefix>/current` and `<prefix>/previous` name. */
  readonly current: string | null;
  readonly previous: string | null;
  /** Installed builds under the prefix, with what `bin/memcached -V` reports (null: does not run). */
  readonly builds: readonly { readonly dir: string; readonly version: string | null }[];
  readonly platform: {
    readonly arch: string | null;
    readonly libc: string | null;
    readonly libevent: string | null;
  };
  /** From `stats`; null when nothing answers on the port. */
  readonly memcached: {
    readonly port: number;
    readonly uptime_s: number;
    readonly items: number;
    readonly bytes: number;
    readonly limit_bytes: number;
    readonly get_hits: number;
    readonly get_misses: number;
    /** Clients' hits over their gets: memplay's own reads left out (since `hit_ratio_since`, when set). */
    readonly hit_ratio: number | null;
    /** Unix time the hit ratio counts from (memplay's last read of this instance); null: since its start. */
    readonly hit_ratio_since: number | null;
    readonly evictions: number;
    readonly connections: number;
  } | null;
}

export interface PackageFacts {
  readonly manager: 'dpkg' | 'rpm';
  readonly name: string;
  readonly version: string;
  readonly binary: string;
  readonly binary_version: string | null;
  readonly unit: string;
  readonly unit_file: string;
  /** The unit's ExecStart without memplay's drop-in. */
  readonly exec_start: readonly string[];
  /** The file the package's settings are in (Debian's wrapper's file, RPM's EnvironmentFile). */
  readonly config_file: string | null;
  readonly held: boolean;
  readonly auto_updates: string | null;
  /** memcached.args is left out: what a run starts the new build with; null: the playbook's args. */
  readonly args_carried_over: readonly string[] | null;
  /** Why the package manager could restart or replace memcached behind memplay's back; null: held. */
  readonly warning: string | null;
}

function packageFacts(row: Extract<FleetFacts, { reachable: true }>): PackageFacts | null {
  const install = row.facts.packageInstall;
  if (!install) return null;
  const carried = carriesArgs(row.host, row.facts) && row.facts.pid !== null;
  return {
    manager: install.packageManager,
    name: install.packageName,
    version: install.packageVersion,
    binary: install.binary,
    binary_version: install.binaryVersion,
    unit: install.unit,
    unit_file: install.unitFile,
    exec_start: install.execStart,
    config_file: install.configFile,
    held: install.held,
    auto_updates: install.autoUpdates,
    args_carried_over: carried ? hostAsRun(row.host, row.facts).memcached.args : null,
    warning: packageHoldWarning(install),
  };
}

export interface UnreachableEvent {
  readonly event: 'unreachable';
  readonly host: string;
  readonly reason: string;
  readonly detail: string;
}

export function factsEvent(row: FleetFacts): FactsEvent | UnreachableEvent {
  if (!row.reachable)
    return { event: 'unreachable', host: row.host.name, reason: row.reason, detail: row.detail };
  const { facts, stats } = row;
  return {
    event: 'facts',
    host: row.host.name,
    address: row.host.address,
    running_version: facts.runningVersion,
    pid: facts.pid,
    command_line: facts.commandLine,
    problem: row.problem,
    transfer: row.transfer,
    ...(facts.packageInstall !== undefined && { package: packageFacts(row) }),
    current: facts.currentLink,
    previous: facts.previousLink,
    builds: facts.builds.map((b) => ({ dir: b.dir, version: b.reportedVersion })),
    // The event's platform is the fingerprint's three parts; the build tools stay internal.
    platform: { arch: facts.platform.arch, libc: facts.platform.libc, libevent: facts.platform.libevent },
    memcached: stats
      ? {
          port: row.host.memcached.port,
          uptime_s: stats.uptime,
          items: stats.items,
          bytes: stats.bytes,
          limit_bytes: stats.limitBytes,
          get_hits: stats.getHits,
          get_misses: stats.getMisses,
          hit_ratio: stats.hitRatio,
          hit_ratio_since: stats.hitRatioSince,
          evictions: stats.evictions,
          connections: stats.connections,
        }
      : null,
  };
}

export function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(seconds % 60).padStart(2, '0')}s`;
  return `${seconds}s`;
}

export function formatHitRatio(ratio: number | null): string {
  return ratio === null ? '-' : `${(ratio * 100).toFixed(1)}%`;
}

const columns = ['HOST', 'VERSION', 'BUILDS', 'UPTIME', 'ITEMS', 'BYTES', 'HIT RATIO', 'EVICTIONS', 'CONNS'];
/** Numbers are right-aligned. */
const rightAligned = new Set([3, 4, 5, 6, 7, 8]);

/** The fleet as a table, then one line per unreachable host and a fleet total. */
export function formatFactsTable(rows: readonly FleetFacts[]): string {
  const cells = rows.flatMap((row): string[][] => {
    if (!row.reachable) return [];
    const { facts, stats } = row;
    // `*` marks the build `current` names.
    const builds =
      facts.builds.map((b) => `${b.dir}${b.dir === facts.currentLink ? '*' : ''}`).join(', ') || '-';
    const version = facts.runningVersion ?? `not serving (:${row.host.memcached.port})`;
    if (!stats) return [[row.host.name, version, builds, '-', '-', '-', '-', '-', '-']];
    return [
      [
        row.host.name,
        version,
        builds,
        formatUptime(stats.uptime),
        formatCount(stats.items),
        formatBytes(stats.bytes),
        // `†`: counted since memplay's last read of the instance, its own gets left out.
        `${formatHitRatio(stats.hitRatio)}${stats.hitRatioSince !== null && stats.hitRatio !== null ? '†' : ''}`,
        formatCount(stats.evictions),
        formatCount(stats.connections),
      ],
    ];
  });
  const out = formatTable(columns, cells, rightAligned);
  for (const row of rows) {
    if (!row.reachable) out.push(`${row.host.name} UNREACHABLE (${row.reason}): ${row.detail}`);
    else {
      if (row.problem) out.push(`${row.host.name} MISMATCH: ${row.problem}`);
      const install = packageFacts(row);
      if (install && row.facts.packageInstall) {
        out.push(`${row.host.name} PACKAGE: ${describePackageInstall(row.facts.packageInstall)}`);
        if (row.facts.commandLine) out.push(`${row.host.name} RUNS: ${row.facts.commandLine.join(' ')}`);
        if (install.args_carried_over)
          out.push(
            `${row.host.name} ARGS: memcached.args is left out: carried over from the running instance: ${install.args_carried_over.join(' ') || '(none)'}`,
          );
        if (install.warning) out.push(`${row.host.name} WARNING: ${install.warning}`);
      }
      // SFTP is the rule; a host without it is worth a line.
      if (row.transfer === 'exec-stream')
        out.push(`${row.host.name} TRANSFER: ${describeTransfer(row.transfer)}`);
    }
  }
  out.push(fleetTotal(rows));
  return out.join('\n');
}

function fleetTotal(rows: readonly FleetFacts[]): string {
  const reachable = rows.filter((r) => r.reachable);
  const serving = reachable.filter((r) => r.stats !== null);
  const versions = new Map<string, number>();
  for (const r of serving) {
    const v = r.facts.runningVersion ?? '?';
    versions.set(v, (versions.get(v) ?? 0) + 1);
  }
  const items = serving.reduce((sum, r) => sum + (r.stats?.items ?? 0), 0);
  const bytes = serving.reduce((sum, r) => sum + (r.stats?.bytes ?? 0), 0);
  const byVersion = [...versions].map(([v, n]) => `${n} on ${v}`).join(', ');
  const unreachable = rows.length - reachable.length;
  return [
    `${rows.length} host${rows.length === 1 ? '' : 's'}: ${serving.length} serving${byVersion ? ` (${byVersion})` : ''}`,
    reachable.length - serving.length ? `${reachable.length - serving.length} not serving` : '',
    unreachable ? `${unreachable} unreachable` : '',
    `${formatCount(items)} items / ${formatBytes(bytes)} cached`,
    '* = the build current points at',
    serving.some((r) => r.stats?.hitRatioSince !== null && r.stats?.hitRatio !== null)
      ? "† = clients' gets since memplay last read the instance (its own left out)"
      : '',
  ]
    .filter(Boolean)
    .join('; ');
}
