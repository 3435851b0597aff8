import { hostname, userInfo } from 'node:os';
import { posix } from 'node:path';
import type { HostConfig } from '../playbook/types.js';
import { sh } from '../transport/quote.js';
import type { HeldCommand, Transport } from '../transport/transport.js';

// One memplay run per host at a time. Two runs started 0.3 s apart failed in
// each other's build, and had both reached the swap each would have stopped
// what the other started. The lock lives on the host, beside the builds
// (`<prefix>/.memplay/lock`), held by a small process of the run's own SSH
// connection: it waits on its stdin and removes the lock when memplay releases
// it, or when the connection drops (memplay killed). A lock whose holder
// process is gone (the host rebooted, the holder was killed) is taken over and
// said so. The lock file names the holder: controller, user, pid, start time.

/** What one lock line says about its holder, as written by the controller that took it. */
export interface LockHolder {
  readonly controller: string;
  readonly user: string;
  readonly pid: number;
  readonly started: string;
}

export type HostLock =
  /** This run holds the lock; `tookOverFrom`: the holder of a lock left behind by a run that is gone. */
  | { readonly kind: 'held'; readonly tookOverFrom?: string; readonly release: () => Promise<void> }
  /** Another run holds it: this host is not touched. */
  | {
      readonly kind: 'busy';
      readonly holder: string;
      /** The process on the host that holds the lock for that run. */
      readonly holderPid?: number;
    }
  /** --check: nobody holds it (the plan takes it only in apply). */
  | { readonly kind: 'free' }
  /** The lock could not be taken (the prefix is not writable): the host is not touched. */
  | { readonly kind: 'failed'; readonly reason: string };

// $1 the lock file, $2 the holder line, $3 take|peek. A holder is alive when
// its pid runs this script: its command line carries the name memplay-host-lock.
const lockScript = `
lock=$1; line=$2; mode=$3
tab=$(printf '\\t')
alive() {
  case "$1" in ''|*[!0-9]*) return 1;; esac
  tr '\\000' ' ' < "/proc/$1/cmdline" 2>/dev/null | grep -q memplay-host-lock
}
holder_of() { cat "$lock" 2>/dev/null; }
if [ "$mode" = peek ]; then
  held=$(holder_of)
  if [ -n "$held" ] && alive "\${held%%"$tab"*}"; then printf 'busy\\t%s\\n' "$held"; else echo free; fi
  exit 0
fi
mkdir -p "$(dirname "$lock")" 2>/dev/null
mine="$$$tab$line"
took=''
if ! ( set -C; printf '%s\\n' "$mine" > "$lock" ) 2>/dev/null; then
  held=$(holder_of)
  if [ -n "$held" ] && alive "\${held%%"$tab"*}"; then printf 'busy\\t%s\\n' "$held"; exit 0; fi
  # The holder is gone. Only one run can move its file aside; a live lock moved
  # by mistake (another run took over first) goes back.
  if mv "$lock" "$lock.stale.$$" 2>/dev/null; then
    moved=$(cat "$lock.stale.$$" 2>/dev/null)
    if [ "$moved" != "$held" ]; then
      mv "$lock.stale.$$" "$lock" 2>/dev/null
      printf 'busy\\t%s\\n' "$moved"; exit 0
    fi
    rm -f "$lock.stale.$$"
  fi
  if ! ( set -C; printf '%s\\n' "$mine" > "$lock" ) 2>/dev/null; then
    held=$(holder_of)
    if [ -z "$held" ]; then printf 'error\\tcannot create %s\\n' "$lock"; exit 0; fi
    printf 'busy\\t%s\\n' "$held"; exit 0
  fi
  took=\${held#*"$tab"}
fi
if [ -n "$took" ]; then printf 'took-over\\t%s\\n' "$took"; else echo held; fi
cat > /dev/null
[ "$(cut -f1 "$lock" 2>/dev/null)" = "$$" ] && rm -f "$lock"
exit 0
`;

export function lockPath(host: HostConfig): string {
  // A folder of memplay's own: made once, after which a run's lock coming and
  // going leaves the prefix itself as it was.
  return posix.join(host.memcached.prefix, '.memplay', 'lock');
}

export function describeHolder(holder: LockHolder): string {
  return `controller ${holder.controller}, user ${holder.user}, pid ${holder.pid}, started ${holder.started}`;
}

export function thisRun(started: Date = new Date()): LockHolder {
  return {
    controller: hostname(),
    user: userInfo().username,
    pid: process.pid,
    started: started.toISOString(),
  };
}

/** A holder line as the host returns it, for messages; its text is the host's, shown as text only. */
function holderText(raw: string): string {
  // What another controller wrote: printable, one line, bounded.
  return raw.replace(/[^\x20-\x7e]/g, '?').slice(0, 300) || 'an unnamed holder';
}

/** apply: takes the host's lock for this run, or finds it busy. */
export async function takeHostLock(
  host: HostConfig,
  transport: Transport,
  holder: LockHolder,
): Promise<HostLock> {
  const held: HeldCommand = await transport.hold(
    sh`sh -c ${lockScript} memplay-host-lock ${lockPath(host)} ${describeHolder(holder)} take`,
  );
  const [state = '', ...fields] = held.firstLine.split('\t');
  const detail = fields.join('\t');
  if (state === 'held') return { kind: 'held', release: held.release };
  if (state === 'took-over') return { kind: 'held', tookOverFrom: holderText(detail), release: held.release };
  await held.release();
  if (state === 'busy') return busy(fields);
  return {
    kind: 'failed',
    reason:
      `cannot take memplay's lock ${lockPath(host)}: ${holderText(detail || held.firstLine || 'no answer')} — ` +
      `check that the remote user can write to ${host.memcached.prefix}; nothing was changed here`,
  };
}

/** --check: whether a live run holds the host's lock; takes nothing. */
export async function peekHostLock(host: HostConfig, transport: Transport): Promise<HostLock> {
  const result = await transport.run(sh`sh -c ${lockScript} memplay-host-lock ${lockPath(host)} ${''} peek`);
  const [state = '', ...fields] = result.stdout.split('\n')[0]?.split('\t') ?? [];
  return state === 'busy' ? busy(fields) : { kind: 'free' };
}

/** `busy` and the lock's line: the holder process's pid on the host, then who took it. */
function busy([pid = '', ...holder]: readonly string[]): HostLock {
  return {
    kind: 'busy',
    holder: holderText(holder.join(' ')),
    ...(/^\d+$/.test(pid) && { holderPid: Number(pid) }),
  };
}

/** Why a host this lock state leaves alone is failed (busy, or the lock could not be taken); undefined: go on. */
export function lockRefusal(host: HostConfig, lock: HostLock | undefined): string | undefined {
  if (lock?.kind === 'failed') return lock.reason;
  if (lock?.kind !== 'busy') return undefined;
  return (
    `busy: another memplay run holds ${lockPath(host)} (${lock.holder}); nothing was changed here — ` +
    'wait for that run to end, or stop it (its lock goes with it)' +
    (lock.holderPid === undefined
      ? ''
      : `; if that run is gone and its connection lingers, end the lock's holder process on the host (kill ${lock.holderPid})`)
  );
}
