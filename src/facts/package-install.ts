import type { HostConfig } from '../playbook/types.js';
import { sh } from '../transport/quote.js';
import type { Transport } from '../transport/transport.js';
import { parseSystemctlCat, splitExecStart, type UnitFile, unitValues } from './unit-file.js';

// A memcached the distribution's package installed: its binary outside memplay's
// prefix, started by the package's unit, its settings in a file that unit names.
// Found by reading what the unit says (`systemctl cat`), never by assuming /etc
// paths: Debian's unit runs `systemd-memcached-wrapper /etc/memcached.conf`,
// which turns the file's lines into memcached's arguments; RPM's runs
// /usr/bin/memcached with `$OPTIONS` from `EnvironmentFile=/etc/sysconfig/memcached`.
// Read-only, like every fact.

/** Debian's wrapper: runs /usr/bin/memcached (hard-coded) with the lines of the file it is given. */
export const debianWrapperName = 'systemd-memcached-wrapper';
const debianWrapperBinary = '/usr/bin/memcached';
const debianWrapperDefaultConfig = '/etc/memcached.conf';

/** What the unit starts, its drop-ins applied except memplay's own. */
export interface UnitLaunch {
  /** The file that defines the unit (the first `systemctl cat` names). */
  readonly unitFile: string;
  /** The package's ExecStart, split as systemd splits it. */
  readonly execStart: readonly string[];
  /** The memcached binary it runs. */
  readonly binary: string;
  /** Where its settings are: the wrapper's file (Debian) or the unit's EnvironmentFile (RPM); null: the command line only. */
  readonly configFile: string | null;
}

export interface PackageInstall extends UnitLaunch, PackageOwner {
  readonly unit: string;
}

/**
 * What the unit runs without memplay's drop-in, when that is a memcached outside
 * the prefix; null otherwise (memplay's own build, no ExecStart, not memcached).
 */
export function unitLaunch(files: readonly UnitFile[], dropIn: string, prefix: string): UnitLaunch | null {
  const unitFile = files[0]?.path;
  const lines = unitValues(files, 'ExecStart', [dropIn]);
  // More than one ExecStart is not a service systemd starts (Type=oneshot aside).
  if (unitFile === undefined || lines.length !== 1) return null;
  const execStart = splitExecStart(lines[0] as string);
  const [program, ...args] = execStart;
  if (program === undefined) return null;
  const name = program.split('/').pop() ?? '';
  let binary: string;
  let configFile: string | null;
  if (name === debianWrapperName) {
    binary = debianWrapperBinary;
    configFile = args[0] ?? debianWrapperDefaultConfig;
  } else if (/^memcached/.test(name)) {
    binary = program;
    // `-/etc/sysconfig/memcached`: a leading `-` only says the file may be missing.
    const environment = unitValues(files, 'EnvironmentFile', [dropIn]);
    configFile = environment.length > 0 ? (environment[0] as string).replace(/^-/, '') : null;
  } else return null;
  if (binary === prefix || binary.startsWith(`${prefix.replace(/\/+$/, '')}/`)) return null;
  return { unitFile, execStart, binary, configFile };
}

// Who owns the binary, and whether the package manager would replace it: the
// script's text is a constant, the binary its one positional parameter.
const ownerScript = `
binary=$1
printf 'version\\t%s\\n' "$("$binary" -V 2>/dev/null | head -n 1)"
if command -v dpkg-query >/dev/null 2>&1; then
  real=$(readlink -f -- "$binary" 2>/dev/null || printf '%s' "$binary")
  owner=$(dpkg-query -S -- "$binary" 2>/dev/null || dpkg-query -S -- "$real" 2>/dev/null)
  name=$(printf '%s\\n' "$owner" | head -n 1 | sed 's/:.*//; s/,.*//')
  [ -n "$name" ] || exit 0
  printf 'package\\tdpkg\\t%s\\t%s\\n' "$name" "$(dpkg-query -W -f '\${Version}' -- "$name" 2>/dev/null)"
  apt-mark showhold 2>/dev/null | sed 's/^/hold\\t/'
  printf 'unattended\\t%s\\n' "$(dpkg-query -W -f '\${Status}' unattended-upgrades 2>/dev/null)"
  apt-config dump 2>/dev/null | grep '^APT::Periodic::Unattended-Upgrade ' | sed 's/^/periodic\\t/'
elif command -v rpm >/dev/null 2>&1; then
  owner=$(rpm -qf --qf '%{NAME}\\t%{VERSION}-%{RELEASE}\\n' -- "$binary" 2>/dev/null | head -n 1)
  case "$owner" in ''|*' '*) exit 0;; esac
  printf 'package\\trpm\\t%s\\n' "$owner"
  for list in /etc/dnf/plugins/versionlock.list /etc/yum/pluginconf.d/versionlock.list; do
    [ -r "$list" ] && sed 's/^/versionlock\\t/' "$list"
  done
  for timer in dnf-automatic-install.timer dnf-automatic.timer; do
    [ "$(systemctl is-enabled -- "$timer" 2>/dev/null)" = enabled ] && printf 'timer\\t%s\\n' "$timer"
  done
fi
exit 0
`;

/** Who owns a binary, by its package manager's word, and whether that manager may replace it. */
export interface PackageOwner {
  readonly packageManager: 'dpkg' | 'rpm';
  readonly packageName: string;
  /** The package's version as its manager gives it, e.g. `1.6.18-1+deb12u1`. */
  readonly packageVersion: string;
  /** What `<binary> -V` reports (`1.6.18`): the version a return to the package serves. */
  readonly binaryVersion: string | null;
  /** `apt-mark hold` / `dnf versionlock`: the package manager leaves it alone. */
  readonly held: boolean;
  /** The automatic updater that is enabled on the host (`unattended-upgrades`, `dnf-automatic`); null: none found. */
  readonly autoUpdates: string | null;
}

/** The owner script's output; null when no package owns the binary. */
export function parsePackageOwner(output: string): PackageOwner | null {
  let binaryVersion: string | null = null;
  let owner: { manager: 'dpkg' | 'rpm'; name: string; version: string } | null = null;
  const holds: string[] = [];
  const versionLocks: string[] = [];
  let unattendedInstalled = false;
  let periodic = false;
  const timers: string[] = [];
  for (const line of output.split('\n')) {
    const [kind = '', ...fields] = line.split('\t');
    const first = fields[0]?.trim() ?? '';
    if (kind === 'version') binaryVersion = /^memcached (\S+)/.exec(first)?.[1] ?? null;
    if (kind === 'package' && (first === 'dpkg' || first === 'rpm') && fields[1]) {
      owner = { manager: first, name: fields[1].trim(), version: (fields[2] ?? '').trim() };
    }
    if (kind === 'hold') holds.push(first);
    if (kind === 'versionlock') versionLocks.push(first);
    // `install ok installed`; `deinstall ok config-files` is a removed package.
    if (kind === 'unattended') unattendedInstalled = / installed$/.test(first);
    // apt-config dump: `APT::Periodic::Unattended-Upgrade "1";` ("0" or absent: off).
    if (kind === 'periodic') periodic = /"\s*[1-9]\d*\s*"/.test(fields.join('\t'));
    if (kind === 'timer' && first) timers.push(first);
  }
  if (owner === null) return null;
  const { name } = owner;
  // versionlock.list lines are NEVRA patterns (`memcached-0:1.6.12-1.el9.*`) or a bare name; the
  // version after the name starts with a digit or `*`, so `memcached-tools-…` is another package.
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const nevra = new RegExp(`^${escaped}(-(\\d+:)?[\\d*]|$)`);
  // A `!` entry excludes one version; it does not keep the package where it is.
  const locked = versionLocks.some((entry) => !entry.startsWith('!') && nevra.test(entry));
  const held = owner.manager === 'dpkg' ? holds.includes(name) : locked;
  const autoUpdates =
    owner.manager === 'dpkg'
      ? unattendedInstalled && periodic
        ? 'unattended-upgrades'
        : null
      : timers.length > 0
        ? `dnf-automatic (${timers.join(', ')})`
        : null;
  return {
    packageManager: owner.manager,
    packageName: name,
    packageVersion: owner.version,
    binaryVersion,
    held,
    autoUpdates,
  };
}

/**
 * The package install behind a systemd host; null for a pidfile host, a unit
 * systemctl cannot show, or one that runs memcached from the prefix or from a
 * binary no package owns.
 */
export async function probePackageInstall(
  host: HostConfig,
  transport: Transport,
): Promise<PackageInstall | null> {
  const { service, prefix } = host.memcached;
  if (service.manager !== 'systemd') return null;
  const cat = await transport.run(sh`systemctl cat -- ${service.unit}`);
  if (cat.code !== 0) return null;
  const launch = unitLaunch(parseSystemctlCat(cat.stdout), service.dropIn, prefix);
  if (launch === null) return null;
  const probe = await transport.run(sh`sh -c ${ownerScript} memplay-package ${launch.binary}`);
  const owner = probe.code === 0 ? parsePackageOwner(probe.stdout) : null;
  if (owner === null) return null;
  return { unit: service.unit, ...launch, ...owner };
}

/** One line for facts and version_check. */
export function describePackageInstall(install: PackageInstall): string {
  const config = install.configFile ? `, settings in ${install.configFile}` : '';
  return (
    `memcached ${install.binaryVersion ?? '(version unknown)'} from the ${install.packageManager} package ` +
    `${install.packageName} ${install.packageVersion} (${install.binary}), unit ${install.unit} ` +
    `(${install.unitFile}: ExecStart=${install.execStart.join(' ')})${config}`
  );
}

/** How to make the package manager leave the package alone. */
export function holdCommand(install: PackageInstall): string {
  return install.packageManager === 'dpkg'
    ? `apt-mark hold ${install.packageName}`
    : `dnf versionlock add ${install.packageName}`;
}

/**
 * Why the package manager could restart or replace memcached behind memplay's
 * back; null when the package is held. An upgrade of the package replaces its
 * binary and its maintainer scripts restart the unit: a cold restart, whichever
 * build the unit runs then, and every item is gone.
 */
export function packageHoldWarning(install: PackageInstall): string | null {
  if (install.held) return null;
  const who = install.autoUpdates
    ? `${install.autoUpdates} is enabled and may do that unattended`
    : 'any package upgrade run on the host would do that';
  return (
    `the ${install.packageName} package is not held: upgrading it replaces ${install.binary} and restarts ` +
    `${install.unit} behind memplay's back, emptying the cache (${who}) — hold it: ${holdCommand(install)}`
  );
}
