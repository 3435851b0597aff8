// Picks the transport for a host. The host is described structurally so that
// transport/ needs nothing from playbook/: a resolved HostConfig fits as it is.

import type { RawTransport, TransportHooks } from './command-events.js';
import { createLocalTransport } from './local.js';
import { type AcceptedHostKey, connectSsh } from './ssh.js';

export type { AcceptedHostKey } from './ssh.js';

/** How host keys are trusted: strictly, unless `acceptNewHostKeys` (trust on first use). */
export interface ConnectOptions extends TransportHooks {
  readonly acceptNewHostKeys?: boolean;
  readonly onHostKeyAccepted?: (accepted: AcceptedHostKey) => void;
}

export interface TransportTarget {
  readonly name: string;
  readonly address: string;
  readonly connection: 'ssh' | 'local';
  readonly ssh: {
    readonly user: string;
    readonly port: number;
    readonly identityFile?: string;
    readonly knownHosts: string;
    readonly connectTimeoutMs: number;
  };
}

/** Opens the one connection this host's tasks will share; rejects with HostUnreachable if it cannot. */
export async function openTransport(
  host: TransportTarget,
  options: ConnectOptions = {},
): Promise<RawTransport> {
  if (host.connection === 'local') return createLocalTransport(host.name, options);
  return connectSsh({
    ...options,
    hostName: host.name,
    address: host.address,
    port: host.ssh.port,
    user: host.ssh.user,
    ...(host.ssh.identityFile !== undefined ? { identityFile: host.ssh.identityFile } : {}),
    knownHostsFile: host.ssh.knownHosts,
    connectTimeoutMs: host.ssh.connectTimeoutMs,
  });
}
