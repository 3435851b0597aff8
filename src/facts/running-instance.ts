import {
  addressAndPort,
  dialAddresses,
  interfaceHost,
  isEveryInterface,
  listenSettings,
} from '../memcached/listen-address.js';
import type { HostConfig } from '../playbook/types.js';
import { type HostFacts, runningMemcached } from './host-facts.js';

// Is the memcached the service names the one the playbook describes? A wrong
// port made memplay see "nothing serving", plan no backup, and start a second
// daemon over the pidfile; memcached bound to the host's own address made it
// stop a full cache it never reached. Both are caught from the facts, before
// anything changes, in --check too.

function serviceSource(host: HostConfig): string {
  const { service } = host.memcached;
  return service.manager === 'pidfile' ? `the pidfile ${service.pidfile}` : `the unit ${service.unit}`;
}

function written(origin: string | undefined): string {
  return origin ? ` (${origin})` : ' (the default)';
}

/** The `-l` list as a set to compare: every form of "all interfaces" is one. */
function interfaceSet(interfaces: readonly string[]): string[] {
  const hosts = interfaces.map(interfaceHost).map((host) => (isEveryInterface(host) ? '*' : host));
  return [...new Set(hosts.length > 0 ? hosts : ['*'])].sort();
}

function listensOn(interfaces: readonly string[]): string {
  return interfaces.length > 0 ? interfaces.join(',') : 'every interface';
}

/**
 * Why the host's running memcached and the playbook disagree in a way an upgrade
 * would turn into lost data or lost clients; null when they agree (or nothing runs).
 * `acceptSettings`: `inter` there lets the upgrade move memcached to the playbook's `-l`.
 */
export function runningInstanceProblem(
  host: HostConfig,
  facts: Pick<HostFacts, 'pid' | 'commandLine' | 'runningVersion'>,
  options: { readonly startsVersion: string; readonly acceptSettings: readonly string[] },
): string | null {
  const running = runningMemcached(facts);
  if (!running) return null;
  const { port } = host.memcached;
  const shown = running.commandLine.join(' ');
  const names = `${serviceSource(host)} names pid ${running.pid} (${shown})`;
  if (running.listen.port !== port) {
    const where = running.listen.port === 0 ? 'on no TCP port (-p 0)' : `on port ${running.listen.port}`;
    return (
      `${names}, a memcached listening ${where}, but memcached.port is ${port}${written(host.origins?.port)}: ` +
      `memplay would see nothing to back up there and start a second memcached — correct memcached.port ` +
      `(or ${serviceSource(host)}) in the playbook; nothing was changed`
    );
  }
  if (facts.runningVersion === null) {
    const tried = dialAddresses(running.listen.interfaces).map((address) => addressAndPort(address, port));
    return (
      `${names} is running, but memplay reached it on none of ${tried.join(', ')} through the host's ` +
      `connection: stopping it would lose its data unseen — check that sshd there allows TCP forwarding ` +
      `(AllowTcpForwarding) and that memcached answers on that address; nothing was changed`
    );
  }
  const planned = listenSettings(host.memcached.args).interfaces;
  const now = interfaceSet(running.listen.interfaces);
  const next = interfaceSet(planned);
  if (now.join(',') !== next.join(',') && !options.acceptSettings.includes('inter')) {
    return (
      `${names} listens on ${listensOn(running.listen.interfaces)}, but memcached.args` +
      `${written(host.origins?.args)} would start ${options.startsVersion} on ${listensOn(planned)}: its clients ` +
      `would lose it — put the running -l ${running.listen.interfaces.join(',') || '(none)'} in memcached.args, ` +
      'or list `inter` in verify.accept_settings to move it; nothing was changed'
    );
  }
  return null;
}
