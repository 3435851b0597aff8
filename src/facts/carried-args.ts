import type { HostConfig } from '../playbook/types.js';
import type { HostFacts } from './host-facts.js';
import { runningMemcached } from './host-facts.js';

// A host whose memcached the distribution's package installed may leave
// memcached.args out: the running instance's arguments (`/proc/<pid>/cmdline`,
// which the package's config file produced) are what the new build starts with,
// so an operator upgrades without retyping the package's settings.

/**
 * The running memcached's arguments as the new build takes them: the program
 * left out, and what memplay decides itself — `-p` (memcached.port) and `-d`
 * (the unit runs memcached in the foreground).
 */
export function carriedArgs(commandLine: readonly string[]): string[] {
  const [, ...args] = commandLine;
  const carried: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '-d' || arg === '--daemon') continue;
    if (arg === '-p' || arg === '--port') {
      i++;
      continue;
    }
    if (/^-p\d+$/.test(arg) || arg.startsWith('--port=')) continue;
    carried.push(arg);
  }
  return carried;
}

/** Whether this host takes its memcached arguments from the running instance. */
export function carriesArgs(host: HostConfig, facts: Pick<HostFacts, 'packageInstall'>): boolean {
  return host.memcached.argsLeftOut === true && (facts.packageInstall ?? null) !== null;
}

/**
 * The host as a run works on it: for a package host without memcached.args, the
 * running instance's arguments in their place. Unchanged when nothing runs (the
 * run then refuses it in version_check: it has no arguments to start with).
 */
export function hostAsRun(
  host: HostConfig,
  facts: Pick<HostFacts, 'packageInstall' | 'pid' | 'commandLine'>,
): HostConfig {
  if (!carriesArgs(host, facts)) return host;
  const running = runningMemcached(facts);
  if (running === null) return host;
  return { ...host, memcached: { ...host.memcached, args: carriedArgs(running.commandLine) } };
}
