// Picks the transport for a host. The host is described structurally so that
// transport/ needs nothing from playbook/: a resolved HostConfig fits as it is.

import type { RawTransport, TransportHooks } from './command-events.js';
import { JumpConnections, type JumpHop } from './jump.js';
import { createLocalTransport } from './local.js';
import { connectSsh } from './ssh.js';
import type { AcceptedHostKey, LegacyAlgorithmsOffered } from './ssh-options.js';

export type { AcceptedHostKey, LegacyAlgorithmsOffered } from './ssh-options.js';

/** How host keys are trusted: strictly, unless `acceptNewHostKeys` (trust on first use). */
export interface ConnectOptions extends TransportHooks {
  readonly acceptNewHostKeys?: boolean;
  readonly onHostKeyAccepted?: (accepted: AcceptedHostKey) => void;
  readonly onLegacyAlgorithms?: (warning: LegacyAlgorithmsOffered) => void;
}

export interface TransportTarget {
  readonly name: string;
  /**
   * Set on each of several memcached instances of one host: that host's name. Targets
   * with the same value share one connection (opened under that name), closed when the
   * last of them closes.
   */
  readonly instanceOf?: string;
  readonly address: string;
  readonly connection: 'ssh' | 'local';
  readonly ssh: {
    readonly user: string;
    readonly port: number;
    readonly identityFile?: string;
    readonly knownHosts: string;
    /** known_hosts files searched besides `knownHosts` (never written). */
    readonly otherKnownHosts?: readonly string[];
    /** Weak algorithms offered after the defaults (ssh.legacy_algorithms). */
    readonly legacyAlgorithms?: readonly string[];
    readonly connectTimeoutMs: number;
    /** Bastions to pass through, first hop first. */
    readonly jumps?: readonly JumpHop[];
    readonly hostKeyAlias?: string;
    readonly configNote?: string;
  };
}

/** Opens hosts' connections for one run; `close` logs out of the bastions they shared. */
export interface Connector {
  open(host: TransportTarget): Promise<RawTransport>;
  /** After every host's transport is closed. */
  close(): Promise<void>;
}

export function createConnector(options: ConnectOptions = {}): Connector {
  const jumps = new JumpConnections();
  const shared = new SharedConnections((host) => openTransport(host, options, jumps));
  return {
    open: (host) =>
      host.instanceOf === undefined
        ? openTransport(host, options, jumps)
        : shared.open(host, host.instanceOf),
    close: () => jumps.close(),
  };
}

/**
 * One connection per host for the instances it runs: the first instance opens it, the
 * others use it, and it closes when the last of them closes it. A failed open is not
 * kept, so a later instance tries again.
 */
export class SharedConnections {
  private readonly open_ = new Map<string, { transport: Promise<RawTransport>; users: number }>();

  constructor(private readonly openOne: (host: TransportTarget) => Promise<RawTransport>) {}

  async open(host: TransportTarget, hostName: string): Promise<RawTransport> {
    let entry = this.open_.get(hostName);
    if (!entry) {
      const transport = this.openOne({ ...host, name: hostName });
      const created = { transport, users: 0 };
      entry = created;
      this.open_.set(hostName, created);
      transport.catch(() => {
        if (this.open_.get(hostName) === created) this.open_.delete(hostName);
      });
    }
    const opened = entry;
    const transport = await opened.transport;
    opened.users += 1;
    let closed = false;
    return {
      ...bindAll(transport),
      close: async () => {
        if (closed) return;
        closed = true;
        opened.users -= 1;
        if (opened.users > 0) return;
        if (this.open_.get(hostName) === opened) this.open_.delete(hostName);
        await transport.close();
      },
    };
  }
}

/**
 * Opens the one connection this host's tasks will share; rejects with HostUnreachable if it
 * cannot. Bastions are shared through `jumps` (a run's Connector); without it each host logs
 * in to its own.
 */
export async function openTransport(
  host: TransportTarget,
  options: ConnectOptions = {},
  jumps?: JumpConnections,
): Promise<RawTransport> {
  if (host.connection === 'local') return createLocalTransport(host.name, options);
  const { ssh } = host;
  const settings = {
    ...options,
    knownHostsFile: ssh.knownHosts,
    ...(ssh.otherKnownHosts !== undefined && { otherKnownHostsFiles: ssh.otherKnownHosts }),
    ...(ssh.legacyAlgorithms !== undefined && { legacyAlgorithms: ssh.legacyAlgorithms }),
    connectTimeoutMs: ssh.connectTimeoutMs,
  };
  const hops = ssh.jumps ?? [];
  let own: JumpConnections | undefined;
  let sock: Awaited<ReturnType<JumpConnections['channelTo']>> | undefined;
  if (hops.length > 0) {
    own = jumps ? undefined : new JumpConnections();
    sock = await (jumps ?? own)
      ?.channelTo(host.name, hops, settings, host.address, ssh.port)
      .catch(async (error: unknown) => {
        await own?.close();
        throw error;
      });
  }
  const transport = await connectSsh({
    ...settings,
    hostName: host.name,
    address: host.address,
    port: ssh.port,
    user: ssh.user,
    ...(ssh.identityFile !== undefined ? { identityFile: ssh.identityFile } : {}),
    ...(ssh.hostKeyAlias !== undefined ? { hostKeyAlias: ssh.hostKeyAlias } : {}),
    ...(ssh.configNote !== undefined ? { configNote: ssh.configNote } : {}),
    ...(sock ? { sock, via: (hops.at(-1) as JumpHop).label } : {}),
  }).catch(async (error: unknown) => {
    await own?.close();
    throw error;
  });
  if (own === undefined) return transport;
  const bastions = own;
  return {
    ...bindAll(transport),
    close: async () => {
      await transport.close();
      await bastions.close();
    },
  };
}

// RawTransport is a class instance: its methods need their `this`.
function bindAll(transport: RawTransport): RawTransport {
  return {
    hostName: transport.hostName,
    run: transport.run.bind(transport),
    runRaw: transport.runRaw.bind(transport),
    upload: transport.upload.bind(transport),
    download: transport.download.bind(transport),
    transferMethod: transport.transferMethod.bind(transport),
    openTcp: transport.openTcp.bind(transport),
    hold: transport.hold.bind(transport),
    close: transport.close.bind(transport),
  };
}
