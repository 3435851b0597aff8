import { dialAddresses, type ListenSettings, listenSettings } from '../memcached/listen-address.js';
import type { HostConfig } from '../playbook/types.js';
import { type ShellCommand, sh } from '../transport/quote.js';
import type { Transport } from '../transport/transport.js';
import { queryMemcached } from './memcached-port.js';
import { learnListenAddresses, playbookDialAddresses } from './memcached-route.js';
import { type PackageInstall, probePackageInstall } from './package-install.js';
import { processAliveFunction } from './process-alive.js';

// Read-only probes of a host. One shell round trip gathers the file-system and
// process side; one TCP round trip through the host's connection asks memcached
// itself which version is serving.

export interface InstalledBuild {
  /** The directory name under the prefix, e.g. `1.6.38`. */
  readonly dir: string;
  /** What `<prefix>/<dir>/bin/memcached -V` reports, or null if it does not run. */
  readonly reportedVersion: string | null;
  /**
   * Whether the folder holds memplay's marker (buildMarker), written when memplay
   * installed it. Only such folders are ever pruned: anything else under the prefix
   * is someone else's, whatever it contains.
   */
  readonly madeByMemplay: boolean;
}

/** The file memplay writes into each build folder it installs: what makes a folder prunable. */
export const buildMarker = '.memplay-build';

export interface HostFacts {
  /** What the memcached port answers to `version`; null when nothing answers. */
  readonly runningVersion: string | null;
  /** The build directory `<prefix>/current` points at, or null if there is no link. */
  readonly currentLink: string | null;
  /** The build `<prefix>/previous` names: what `current` named before the last swap (null: none yet). */
  readonly previousLink: string | null;
  readonly builds: readonly InstalledBuild[];
  /** The pid in the service's pidfile (or the unit's main pid) when that process is alive. */
  readonly pid: number | null;
  /** That process's command line, as `/proc/<pid>/cmdline` gives it; null without a live pid. */
  readonly commandLine: readonly string[] | null;
  /** What a build depends on besides its sources: hosts that agree on all of it can share one build. */
  readonly platform: Platform;
  /**
   * systemd hosts: the distribution's package install the unit runs (or ran
   * before memplay's drop-in), null when it runs none. Absent: not looked at.
   */
  readonly packageInstall?: PackageInstall | null;
}

/** Each part is null when the probe could not tell: such a host never shares a build. */
export interface Platform {
  /** `uname -m`, e.g. `x86_64`. */
  readonly arch: string | null;
  /** e.g. `glibc 2.36` (getconf), else the first line of `ldd --version`. */
  readonly libc: string | null;
  /** `pkg-config --modversion libevent`, else the file name of the installed library (`libevent-2.1.so.7.0.1`). */
  readonly libevent: string | null;
  /**
   * What compiling here lacks on the user's PATH: `compiler` (cc or gcc), `make`, `tar`, `xz`,
   * `libevent` (its headers). Empty: it can compile; absent: not probed. Not part of the
   * fingerprint: two hosts of one platform share a build whoever compiled it.
   */
  readonly missingBuildTools?: readonly string[];
}

export function buildFor(facts: HostFacts, version: string): InstalledBuild | undefined {
  return facts.builds.find((build) => build.dir === version);
}

export function hasWorkingBuild(facts: HostFacts, version: string): boolean {
  return buildFor(facts, version)?.reportedVersion === version;
}

// A preprocessor input that fails unless the compiler finds libevent's and OpenSSL's
// headers; a compiler without __has_include includes them instead. For printf.
const hasBothHeaders = [
  '#if defined(__has_include)',
  '# if !__has_include(<event.h>) || !__has_include(<openssl/ssl.h>)',
  '#  error a header is missing',
  '# endif',
  '#else',
  '# include <event.h>',
  '# include <openssl/ssl.h>',
  '#endif',
  '',
].join('\\n');

// Can this host compile? Asked once with the platform: a host whose user has no
// compiler on its PATH (a hardened image) must get its build from elsewhere.
export const buildToolsScript = `missing=''
command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || missing="$missing compiler"
command -v make >/dev/null 2>&1 || missing="$missing make"
command -v tar >/dev/null 2>&1 || missing="$missing tar"
command -v xz >/dev/null 2>&1 || missing="$missing xz"
# One preprocessor run asks the compiler whether it finds both headers, where both are
# there (the usual case); each alone is included only to tell which one is missing.
# __has_include (GCC 5, clang) looks a header up without reading it: 9 ms of CPU here
# where including both took 60 ms, most of a probe that reads the platform.
if command -v cc >/dev/null 2>&1 && ! printf '${hasBothHeaders}' | cc -E -x c - >/dev/null 2>&1; then
  printf '#include <event.h>\\n' | cc -E -x c - >/dev/null 2>&1 || missing="$missing libevent"
  # Needed only by a build with --enable-tls; the build task decides whether it counts.
  printf '#include <openssl/ssl.h>\\n' | cc -E -x c - >/dev/null 2>&1 || missing="$missing openssl"
fi
printf 'missing-build-tools\\t%s\\n' "$missing"
`;

// The probe script takes its values as positional parameters ($1 prefix, $2 pidfile,
// $3 `platform` or `no-platform`, $4 the systemd unit, $5 the target version or empty):
// the script text is a constant and every value goes through \`sh\` quoting.
//
// The platform is most of the probe's cost on the host (two preprocessor runs for the
// build tools, pkg-config, getconf: ~0.1 CPU s against ~0.01 s for the rest), and only a
// host that needs the target build uses it. So a host whose \`<prefix>/<target>\` already
// reports the target (hasWorkingBuild, the build task's "already built") skips it: the
// no-op re-run over a fleet pays for none of it.
// Forks only where the shell cannot do the work: \`readlink\`, each build's \`-V\`,
// and \`tr | sed\` for the command line. Names come from parameter expansion and
// the pid from \`read\`; process-alive.ts says why the liveness check is no \`ps\`.
const probeScript = `
prefix=$1; pidfile=$2; platform=$3; unit=$4; target=$5; target_built=0
nl='
'
${processAliveFunction}printf 'current\\t%s\\n' "$(readlink "$prefix/current" 2>/dev/null)"
printf 'previous\\t%s\\n' "$(readlink "$prefix/previous" 2>/dev/null)"
for dir in "$prefix"/*/; do
  [ -d "$dir" ] || continue
  name=\${dir%/}; name=\${name##*/}
  case "$name" in current|previous|.*) continue;; esac
  if [ -x "$dir/bin/memcached" ]; then
    marked=0; [ -f "$dir/${buildMarker}" ] && [ ! -L "$dir/${buildMarker}" ] && marked=1
    reported=$("$dir/bin/memcached" -V 2>/dev/null); reported=\${reported%%"$nl"*}
    printf 'build\\t%s\\t%s\\t%s\\n' "$name" "$reported" "$marked"
    if [ -n "$target" ] && [ "$name" = "$target" ]; then
      case "$reported" in "memcached $target"|"memcached $target "*) target_built=1;; esac
    fi
  fi
done
pid=''
if [ -n "$pidfile" ] && [ -r "$pidfile" ]; then
  read -r pid 2>/dev/null < "$pidfile"
elif [ -n "$unit" ]; then
  pid=$(systemctl show -p MainPID --value "$unit" 2>/dev/null)
fi
case "$pid" in ''|0|*[!0-9]*) ;; *)
  if alive "$pid"; then
    printf 'pid\\t%s\\n' "$pid"
    # One line per argument, each prefixed: an argument holding a newline
    # cannot pass for another kind of line.
    tr '\\000' '\\n' < "/proc/$pid/cmdline" 2>/dev/null | sed 's/^/arg\t/'
  fi;;
esac
[ "$platform" = platform ] && [ "$target_built" = 0 ] || exit 0
printf 'arch\\t%s\\n' "$(uname -m 2>/dev/null)"
libc=$(getconf GNU_LIBC_VERSION 2>/dev/null) || libc=''
[ -n "$libc" ] || libc=$(ldd --version 2>&1 | head -n 2 | tr '\\n\\t' '  ')
printf 'libc\\t%s\\n' "$libc"
libevent=$(pkg-config --modversion libevent 2>/dev/null) || libevent=''
if [ -z "$libevent" ]; then
  for lib in /usr/lib/libevent-*.so.* /usr/lib/*/libevent-*.so.* /usr/lib64/libevent-*.so.* /usr/local/lib/libevent-*.so.*; do
    [ -e "$lib" ] && libevent=$(basename "$lib") && break
  done
fi
printf 'libevent\\t%s\\n' "$libevent"
${buildToolsScript}exit 0
`;

/**
 * With `platform: false` the probe leaves out the platform (arch, libc, libevent, build
 * tools) it would report; with `unlessBuilt`, it leaves it out when that version's build
 * is installed and reports that version (the host needs no build, so nothing reads it).
 */
export function probeCommand(
  host: HostConfig,
  options: { readonly platform: boolean; readonly unlessBuilt?: string } = { platform: true },
): ShellCommand {
  const { service } = host.memcached;
  const pidfile = service.manager === 'pidfile' ? service.pidfile : '';
  const unit = service.manager === 'systemd' ? service.unit : '';
  const platform = options.platform ? 'platform' : 'no-platform';
  const target = options.unlessBuilt ?? '';
  return sh`sh -c ${probeScript} memplay-probe ${host.memcached.prefix} ${pidfile} ${platform} ${unit} ${target}`;
}

/** The build directory a `current` link names, whether the link is relative (`1.6.38`) or absolute. */
export function buildOfLink(target: string): string | null {
  return target.replace(/\/+$/, '').split('/').pop() || null;
}

export function parseProbeOutput(output: string): Omit<HostFacts, 'runningVersion'> {
  let currentLink: string | null = null;
  let previousLink: string | null = null;
  let pid: number | null = null;
  const commandLine: string[] = [];
  const builds: InstalledBuild[] = [];
  const platform: {
    arch: string | null;
    libc: string | null;
    libevent: string | null;
    missingBuildTools?: readonly string[];
  } = {
    arch: null,
    libc: null,
    libevent: null,
  };
  for (const line of output.split('\n')) {
    if (line.startsWith('arg\t')) {
      commandLine.push(line.slice('arg\t'.length));
      continue;
    }
    const [kind, first = '', second = '', third = ''] = line.split('\t');
    if (kind === 'current') currentLink = buildOfLink(first);
    if (kind === 'previous') previousLink = buildOfLink(first);
    if (kind === 'pid') pid = Number(first);
    if (kind === 'arch' || kind === 'libc' || kind === 'libevent') platform[kind] = first.trim() || null;
    if (kind === 'missing-build-tools') platform.missingBuildTools = first.split(' ').filter(Boolean);
    if (kind === 'build') {
      const match = /^memcached (\S+)/.exec(second);
      builds.push({ dir: first, reportedVersion: match?.[1] ?? null, madeByMemplay: third === '1' });
    }
  }
  builds.sort((a, b) => compareVersions(a.dir, b.dir));
  return { currentLink, previousLink, builds, pid, commandLine: pid === null ? null : commandLine, platform };
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (Number.isNaN(diff)) return a.localeCompare(b);
    if (diff !== 0) return diff;
  }
  return 0;
}

/** How long a live memcached that missed the first version query (3 s) is given the second time. */
export const slowAnswerMs = 15_000;

/** What a caller of gatherFacts already knows, or what it wants left out. */
export interface KnownOfHost {
  /**
   * The platform an earlier probe of this run found. It cannot change within a run,
   * and reading it again (uname, getconf, pkg-config) would cost time inside swap's
   * out-of-service window.
   */
  readonly platform?: Platform;
  /** Likewise the package install an earlier probe found (its unit file does not change within a run). */
  readonly packageInstall?: PackageInstall | null;
  /**
   * The run's target version: a host that already has its working build needs no
   * build, so its platform is not read (the parts stay null, as for a platform the
   * probe could not tell; the build task never reads them for such a host).
   */
  readonly unlessBuilt?: string;
}

/** The host as it is now. */
export async function gatherFacts(
  host: HostConfig,
  transport: Transport,
  known: KnownOfHost = {},
): Promise<HostFacts> {
  const { port } = host.memcached;
  const knownPlatform = known.platform;
  const [probe, versionWhereExpected, packageInstall] = await Promise.all([
    transport.run(
      probeCommand(host, { platform: knownPlatform === undefined, unlessBuilt: known.unlessBuilt }),
    ),
    queryMemcached(transport, port, (client) => client.version()),
    known.packageInstall !== undefined ? known.packageInstall : probePackageInstall(host, transport),
  ]);
  if (probe.code !== 0) {
    throw new Error(`fact probe exited ${probe.code}: ${probe.stderr.trim()}`);
  }
  const facts = parseProbeOutput(probe.stdout);
  let runningVersion = versionWhereExpected;
  const running = runningMemcached(facts);
  if (running && running.listen.port === port) {
    // The running instance may listen elsewhere than memcached.args say (the
    // playbook changes -l, or never had it right): it is reached where it is.
    const elsewhere = dialAddresses(running.listen.interfaces).filter(
      (address) => !playbookDialAddresses(host).includes(address),
    );
    learnListenAddresses(transport, port, elsewhere);
    // A live memcached of this port that did not answer is asked once more, and given
    // longer: on a loaded host it is slow, not gone. At 500 hosts, 50 restoring at once,
    // three healthy hosts missed the first 3 s and verify rolled them back as "nothing answers".
    if (runningVersion === null) {
      runningVersion = await queryMemcached(transport, port, (client) => client.version(), slowAnswerMs);
    }
  }
  return {
    ...facts,
    platform: knownPlatform ?? facts.platform,
    runningVersion,
    ...(host.memcached.service.manager === 'systemd' && { packageInstall }),
  };
}

/** The live pid's process when it is a memcached, with where it listens. */
export interface RunningMemcached {
  readonly pid: number;
  readonly commandLine: readonly string[];
  readonly listen: ListenSettings;
}

export function runningMemcached(facts: Pick<HostFacts, 'pid' | 'commandLine'>): RunningMemcached | null {
  const [program, ...args] = facts.commandLine ?? [];
  if (facts.pid === null || program === undefined || !/memcached/.test(program.split('/').pop() ?? '')) {
    return null;
  }
  return { pid: facts.pid, commandLine: facts.commandLine ?? [], listen: listenSettings(args) };
}
