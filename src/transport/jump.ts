// Jump hosts (bastions), as `ssh -J` uses them: the connection to a host is an ssh
// session carried inside a direct-tcpip channel of the bastion's connection. Each
// bastion's host key is checked like any host's, under its own name and port, and so is
// the host's behind it. One login per bastion (per chain of them) serves every host
// behind it for the whole run, so a fleet of N hosts does not open N bastion logins.

import type { Duplex } from 'node:stream';
import type { Client } from 'ssh2';
import { errorMessage, HostUnreachable } from '../errors.js';
import { openSshClient } from './ssh-client.js';
import type { SshOptions } from './ssh-options.js';

/** One jump host (bastion), resolved through the ssh config like the host itself. */
export interface JumpHop {
  /** As written in ssh.jump or ProxyJump: `bastion`, `ops@10.0.0.1:2222`. */
  readonly label: string;
  readonly address: string;
  readonly port: number;
  readonly user: string;
  /** Its own IdentityFile from the ssh config, else the host's key; absent: ssh-agent only. */
  readonly identityFile?: string;
  readonly hostKeyAlias?: string;
  /** Where the ssh config placed this jump host, for connection errors. */
  readonly configNote?: string;
}

/** What every hop shares with the host it leads to. */
export type HopSettings = Omit<
  SshOptions,
  'hostName' | 'address' | 'port' | 'user' | 'identityFile' | 'sock' | 'via' | 'hostKeyAlias' | 'configNote'
>;

export class JumpConnections {
  // Keyed by the chain up to and including the hop, so `a,b` and `b` are different logins.
  private readonly clients = new Map<string, Promise<Client>>();

  /**
   * A channel from the last hop of `hops` to `address:port`, for an ssh client to speak over.
   * Failures are HostUnreachable for `hostName`, naming the hop that failed.
   */
  async channelTo(
    hostName: string,
    hops: readonly JumpHop[],
    settings: HopSettings,
    address: string,
    port: number,
  ): Promise<Duplex> {
    const last = hops.at(-1) as JumpHop;
    const client = await this.hopClient(hostName, hops, hops.length, settings);
    return forward(client, hostName, last.label, address, port);
  }

  private hopClient(hostName: string, hops: readonly JumpHop[], count: number, settings: HopSettings) {
    const key = hops
      .slice(0, count)
      .map((hop) => `${hop.user}@${hop.address}:${hop.port}`)
      .join(',');
    let client = this.clients.get(key);
    if (client === undefined) {
      client = this.login(hops, count, settings);
      this.clients.set(key, client);
      const opened = client;
      const forget = () => {
        if (this.clients.get(key) === opened) this.clients.delete(key);
      };
      // A bastion that refused us, or dropped later, is tried afresh by the next host.
      opened.then((c) => c.once('close', forget), forget);
    }
    return client.catch((error: unknown) => {
      throw asHostsError(error, hostName, hops[count - 1] as JumpHop);
    });
  }

  private async login(hops: readonly JumpHop[], count: number, settings: HopSettings): Promise<Client> {
    const hop = hops[count - 1] as JumpHop;
    const previous = count > 1 ? (hops[count - 2] as JumpHop) : undefined;
    // Shared by every host behind it: messages name the jump host, each host adds its own name.
    const name = `jump host ${hop.label}`;
    const sock =
      previous === undefined
        ? undefined
        : await forward(
            await this.hopClient(name, hops, count - 1, settings),
            name,
            previous.label,
            hop.address,
            hop.port,
          );
    const client = await openSshClient({
      ...settings,
      hostName: name,
      address: hop.address,
      port: hop.port,
      user: hop.user,
      ...(hop.identityFile !== undefined && { identityFile: hop.identityFile }),
      ...(hop.hostKeyAlias !== undefined && { hostKeyAlias: hop.hostKeyAlias }),
      ...(hop.configNote !== undefined && { configNote: hop.configNote }),
      ...(sock && { sock }),
      ...(previous && { via: previous.label }),
    });
    // After the login, errors surface through the channels they break.
    client.on('error', () => {});
    return client;
  }

  /** Logs out of every bastion; the hosts behind them must be closed first. */
  async close(): Promise<void> {
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(
      clients.reverse().map(async (pending) => {
        const client = await pending.catch(() => undefined);
        if (client === undefined) return;
        await new Promise<void>((resolve) => {
          const fallback = setTimeout(() => {
            client.destroy();
            resolve();
          }, 5_000);
          client.once('close', () => {
            clearTimeout(fallback);
            resolve();
          });
          client.end();
        });
      }),
    );
  }
}

function asHostsError(error: unknown, hostName: string, hop: JumpHop): Error {
  if (error instanceof HostUnreachable) {
    const detail = error.message.startsWith(`${error.host}: `)
      ? error.message.slice(error.host.length + 2)
      : error.message;
    const named = error.host === hostName ? detail : `${error.host}: ${detail}`;
    return new HostUnreachable(hostName, error.reason, named);
  }
  const message = errorMessage(error);
  return new HostUnreachable(hostName, 'connect', `jump host ${hop.label}: ${message}`);
}

function forward(
  client: Client,
  hostName: string,
  label: string,
  address: string,
  port: number,
): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    try {
      client.forwardOut('127.0.0.1', 0, address, port, (error, channel) => {
        if (error) {
          reject(
            new HostUnreachable(
              hostName,
              'connect',
              `jump host ${label} could not open a connection to ${address}:${port} (${error.message}); ` +
                `check the host's address and port as ${label} sees them, and that ${label}'s sshd allows ` +
                'TCP forwarding (AllowTcpForwarding)',
            ),
          );
          return;
        }
        resolve(channel);
      });
    } catch (error) {
      // ssh2 throws synchronously once the connection is gone.
      reject(
        new HostUnreachable(
          hostName,
          'disconnected',
          `the connection to jump host ${label} was lost (${(error as Error).message}); run again`,
        ),
      );
    }
  });
}
