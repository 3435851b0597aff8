import { processAliveFunction } from '../facts/process-alive.js';
import type { HostConfig } from '../playbook/types.js';
import { type ShellCommand, sh } from '../transport/quote.js';
import type { RunOptions } from '../transport/transport.js';
import { dropInText, installDropInCommand, readDropInCommand, removeDropInCommand } from './drop-in.js';

// How memcached is started and stopped on a host. Each manager turns the
// playbook's service settings into shell commands; the swap task runs them.

export interface ServiceControl {
  /** Human description for plans, e.g. `pidfile /home/x/memcached.pid`. */
  readonly describe: string;
  /** Stops the instance and returns only once its process is gone (exit 0), or fails. */
  stop(): ShellCommand;
  /**
   * Like stop, with SIGUSR1: memcached started with a memory file (`-e`) shuts
   * down gracefully and writes `<file>.meta`, so the next start resumes its items.
   * Absent where memplay cannot send it (systemd): the warm path is then not offered.
   */
  readonly stopForRestart?: () => ShellCommand;
  /** Starts `<prefix>/current`; returns once the daemon has forked. */
  start(): ShellCommand;
  /** Pass with stop and start: carries the sudo password on stdin when there is one. */
  readonly runOptions: RunOptions;
  /** systemd: the drop-in that points the unit at `<prefix>/current` (see drop-in.ts). */
  readonly dropIn?: UnitDropIn;
}

export interface UnitDropIn {
  readonly path: string;
  /** What the file must say. */
  readonly text: string;
  /** Read-only: prints the file as it is (nothing when absent). */
  read(): ShellCommand;
  /** Writes `text` there and runs `systemctl daemon-reload` (privileged; run with runOptions). */
  install(): ShellCommand;
  /** Removes the file and runs `systemctl daemon-reload`: the unit's own ExecStart applies again (privileged). */
  remove(): ShellCommand;
}

/** The environment variable holding the sudo password for `become: true`; never the playbook. */
export const becomePasswordVariable = 'MEMPLAY_BECOME_PASSWORD';

const stopTimeoutSeconds = 30;

// SIGTERM (or the signal given, SIGUSR1 for a warm restart), then wait for the process to disappear. A pidfile naming a dead or
// absent process means already stopped. Never escalates to SIGKILL: a stuck
// stop is reported and the operator decides.
// Each check costs no fork where /proc is (process-alive.ts), and after the
// first half second the wait steps 50 ms instead of 10: with `ps | grep` and
// `sleep 0.01` a check was four forks, a hundred times a second on each host of
// a batch, and at 500 lab hosts in batches of 50 on 2 cores the stop took 8.8 s
// of a 22 s swap.
const pidfileStopScript = `
pidfile=$1; timeout=$2; signal=\${3:-TERM}
${processAliveFunction}[ -r "$pidfile" ] || exit 0
pid=$(cat "$pidfile")
case "$pid" in ''|*[!0-9]*) echo "pidfile $pidfile holds no pid" >&2; exit 3;; esac
alive "$pid" || exit 0
case "$signal" in USR1) kill -USR1 "$pid" || exit 4;; *) kill -TERM "$pid" || exit 4;; esac
waited=0; step=1
while alive "$pid"; do
  if [ "$waited" -ge $((timeout*100)) ]; then echo "memcached pid $pid still running $timeout s after SIG$signal" >&2; exit 5; fi
  [ "$waited" -lt 50 ] || step=5
  sleep "0.0$step"
  waited=$((waited+step))
done
rm -f "$pidfile"
exit 0
`;

/** Stops the memcached whose pid `pidfile` holds with `signal` and waits until it is gone. */
export function pidfileStop(
  pidfile: string,
  signal: 'TERM' | 'USR1' = 'TERM',
  timeoutSeconds = stopTimeoutSeconds,
): ShellCommand {
  return sh`sh -c ${pidfileStopScript} memplay-stop ${pidfile} ${timeoutSeconds} ${signal}`;
}

export function memcachedStartArgs(host: HostConfig, pidfile: string): string[] {
  return ['-d', '-P', pidfile, '-p', String(host.memcached.port), ...host.memcached.args];
}

// Without a password sudo must not prompt (-n): a prompt would hang the run.
// With one, sudo reads it from stdin (-S, no prompt text), so it never appears
// in the command line that ps, sshd's log and -v show.
function privileged(host: HostConfig, command: ShellCommand, password: string | undefined): ShellCommand {
  if (!host.become) return command;
  return password === undefined ? sh`sudo -n ${command}` : sh`sudo -S -p '' ${command}`;
}

function becomePassword(environment: NodeJS.ProcessEnv): string | undefined {
  const password = environment[becomePasswordVariable];
  return password === undefined || password === '' ? undefined : password;
}

export function serviceControl(
  host: HostConfig,
  environment: NodeJS.ProcessEnv = process.env,
): ServiceControl {
  const service = host.memcached.service;
  const binary = `${host.memcached.prefix}/current/bin/memcached`;
  if (service.manager === 'pidfile') {
    return {
      describe: `pidfile ${service.pidfile}`,
      stop: () => pidfileStop(service.pidfile),
      stopForRestart: () => pidfileStop(service.pidfile, 'USR1'),
      start: () => sh`${binary} ${memcachedStartArgs(host, service.pidfile)}`,
      runOptions: {},
    };
  }
  const password = host.become ? becomePassword(environment) : undefined;
  // `--`: a unit is never read as an option, whatever the playbook says.
  return {
    describe: `systemd unit ${service.unit}`,
    stop: () => privileged(host, sh`systemctl stop -- ${service.unit}`, password),
    start: () => privileged(host, sh`systemctl start -- ${service.unit}`, password),
    runOptions: password === undefined ? {} : { stdin: `${password}\n` },
    dropIn: {
      path: service.dropIn,
      text: dropInText(host),
      read: () => readDropInCommand(service.dropIn),
      install: () => privileged(host, installDropInCommand(service.dropIn, dropInText(host)), password),
      remove: () => privileged(host, removeDropInCommand(service.dropIn), password),
    },
  };
}
