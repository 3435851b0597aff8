import { type ShellCommand, sh } from '../transport/quote.js';
import type { Transport } from '../transport/transport.js';

// Read-only probes for `memplay init --from-running`: which memcached processes a
// host runs, as the kernel describes them (/proc), before any playbook says where
// to look. Like the fact probe, the script text is a constant and every value
// reaches it as a positional parameter quoted by `sh`.

export interface MemcachedProcess {
  readonly pid: number;
  /** The process owner's uid and name (`stat -c '%u %U' /proc/<pid>`). */
  readonly uid: number;
  readonly user: string;
  /** `/proc/<pid>/exe` (symlinks resolved); null when not readable (another user's process). */
  readonly binary: string | null;
  /** What `<binary> -V` reports (`1.6.18`), from the exe, else from an absolute argv[0]; null when it does not run. */
  readonly version: string | null;
  /** `/proc/<pid>/cmdline`, program first. */
  readonly commandLine: readonly string[];
  /** `/proc/<pid>/cgroup`, one entry per line. */
  readonly cgroup: readonly string[];
}

export interface ProcessesProbe {
  /** Who the SSH login is (`id -u`, `id -un`). */
  readonly loginUid: number;
  readonly loginUser: string;
  /** With a pidfile or unit to look in: the pid it names (null: none, or not a number). */
  readonly namedPid?: number | null;
  /** Every memcached process found (or only the named one). */
  readonly processes: readonly MemcachedProcess[];
}

const processesScript = `
pidfile=$1; unit=$2
printf 'login\\t%s\\t%s\\n' "$(id -u)" "$(id -un)"
report() {
  pid=$1
  [ -r "/proc/$pid/cmdline" ] || return 0
  # A zombie has no command line left: it is not a running memcached.
  [ -n "$(tr -d '\\000' < "/proc/$pid/cmdline" 2>/dev/null | head -c 1)" ] || return 0
  owner=$(stat -c '%u\t%U' "/proc/$pid" 2>/dev/null) || return 0
  printf 'process\\t%s\\t%s\\n' "$pid" "$owner"
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null)
  exe=\${exe% (deleted)}
  printf 'exe\\t%s\\n' "$exe"
  program=$exe
  if [ -z "$program" ]; then
    program=$(tr '\\000' '\\n' < "/proc/$pid/cmdline" 2>/dev/null | head -n 1)
    case "$program" in /*) ;; *) program='';; esac
  fi
  if [ -n "$program" ] && [ -x "$program" ]; then
    printf 'version\\t%s\\n' "$("$program" -V 2>/dev/null | head -n 1)"
  fi
  sed 's/^/cgroup\t/' "/proc/$pid/cgroup" 2>/dev/null
  # One line per argument, each prefixed: an argument holding a newline
  # cannot pass for another kind of line.
  tr '\\000' '\\n' < "/proc/$pid/cmdline" 2>/dev/null | sed 's/^/arg\t/'
}
named() {
  printf 'named\\t%s\\n' "$1"
  case "$1" in ''|0|*[!0-9]*) ;; *) report "$1";; esac
}
if [ -n "$pidfile" ]; then
  named "$(head -n 1 -- "$pidfile" 2>/dev/null | tr -d ' \\t\\r')"
  exit 0
fi
if [ -n "$unit" ]; then
  named "$(systemctl show -p MainPID --value -- "$unit" 2>/dev/null)"
  exit 0
fi
for dir in /proc/[0-9]*; do
  read -r comm 2>/dev/null < "$dir/comm" || continue
  case "$comm" in memcached*) report "\${dir#/proc/}";; esac
done
exit 0
`;

/** Lists the host's memcached processes; with `pidfile` or `unit`, only the process it names. */
export function memcachedProcessesCommand(named: { pidfile?: string; unit?: string } = {}): ShellCommand {
  return sh`sh -c ${processesScript} memplay-processes ${named.pidfile ?? ''} ${named.unit ?? ''}`;
}

export function parseMemcachedProcesses(output: string): ProcessesProbe {
  let loginUid = -1;
  let loginUser = '';
  let namedPid: number | null | undefined;
  const processes: MemcachedProcess[] = [];
  let current: {
    pid: number;
    uid: number;
    user: string;
    binary: string | null;
    version: string | null;
    commandLine: string[];
    cgroup: string[];
  } | null = null;
  for (const line of output.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const kind = line.slice(0, tab);
    const rest = line.slice(tab + 1);
    if (kind === 'login') {
      const [uid = '', user = ''] = rest.split('\t');
      loginUid = Number(uid);
      loginUser = user;
    } else if (kind === 'named') {
      namedPid = /^[1-9][0-9]*$/.test(rest) ? Number(rest) : null;
    } else if (kind === 'process') {
      const [pid = '', uid = '', user = ''] = rest.split('\t');
      current = {
        pid: Number(pid),
        uid: Number(uid),
        user,
        binary: null,
        version: null,
        commandLine: [],
        cgroup: [],
      };
      processes.push(current);
    } else if (current !== null) {
      if (kind === 'exe') current.binary = rest === '' ? null : rest;
      if (kind === 'version') current.version = /^memcached (\S+)/.exec(rest)?.[1] ?? null;
      if (kind === 'cgroup') current.cgroup.push(rest);
      if (kind === 'arg') current.commandLine.push(rest);
    }
  }
  return { loginUid, loginUser, ...(namedPid !== undefined && { namedPid }), processes };
}

export async function probeMemcachedProcesses(
  transport: Transport,
  named: { pidfile?: string; unit?: string } = {},
): Promise<ProcessesProbe> {
  const result = await transport.run(memcachedProcessesCommand(named));
  if (result.code !== 0) {
    throw new Error(`the process probe exited ${result.code}: ${result.stderr.trim()}`);
  }
  return parseMemcachedProcesses(result.stdout);
}

/**
 * The system unit a process runs in, as its cgroup names it
 * (`0::/system.slice/memcached.service`); null for a session, a user manager's
 * unit (which `systemctl` without `--user` does not manage) or no systemd.
 */
export function unitOfCgroup(cgroup: readonly string[]): string | null {
  // cgroup v2 (`0::path`) or v1's systemd hierarchy (`N:name=systemd:path`).
  const entry =
    cgroup.find((line) => line.startsWith('0::')) ?? cgroup.find((line) => /^\d+:name=systemd:/.test(line));
  if (entry === undefined) return null;
  const segments = entry.slice(entry.indexOf(':', entry.indexOf(':') + 1) + 1).split('/');
  if (segments.some((segment) => segment.startsWith('user@'))) return null;
  return segments.findLast((segment) => segment.endsWith('.service')) ?? null;
}

export interface ServiceCheck {
  /** The pid the pidfile holds; null: missing, empty or not a number. */
  readonly pidfilePid: number | null;
  /** The unit's MainPID as systemctl reports it; null: no systemctl, no such unit, or not running. */
  readonly unitMainPid: number | null;
}

const serviceScript = `
pidfile=$1; unit=$2
[ -z "$pidfile" ] || printf 'pidfile\\t%s\\n' "$(head -n 1 -- "$pidfile" 2>/dev/null | tr -d ' \\t\\r')"
[ -z "$unit" ] || printf 'unit\\t%s\\n' "$(systemctl show -p MainPID --value -- "$unit" 2>/dev/null)"
exit 0
`;

/** Whether a pidfile and a unit name the process a playbook would take them for: both read, nothing changed. */
export async function checkService(
  transport: Transport,
  candidates: { pidfile?: string; unit?: string },
): Promise<ServiceCheck> {
  const result = await transport.run(
    sh`sh -c ${serviceScript} memplay-service ${candidates.pidfile ?? ''} ${candidates.unit ?? ''}`,
  );
  const value = (kind: string) => {
    const line = result.stdout.split('\n').find((l) => l.startsWith(`${kind}\t`));
    const text = line?.slice(kind.length + 1) ?? '';
    return /^[1-9][0-9]*$/.test(text) ? Number(text) : null;
  };
  return { pidfilePid: value('pidfile'), unitMainPid: value('unit') };
}
