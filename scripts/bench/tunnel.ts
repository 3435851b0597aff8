import { MetaClient } from '../../src/memcached/meta-client.js';
import { type HostConfig, loadPlaybook } from '../../src/playbook/index.js';
import type { RawTransport } from '../../src/transport/command-events.js';
import { openTransport } from '../../src/transport/connect.js';

// The path memplay's backup and restore tasks take: the host as the resolved
// playbook describes it, one SSH connection, and a MetaClient whose
// connections are ssh2 forwardOut channels to the host's memcached port.

/** As src/tasks/memcached-client.ts connectMeta. */
const TASK_CONNECTIONS = 2;

export interface TunnelledClient {
  readonly host: HostConfig;
  readonly client: MetaClient;
  /** Another channel to the host's memcached, as a task's connect would open. */
  readonly openTcp: () => ReturnType<RawTransport['openTcp']>;
  /** SSH handshake, host-key check and the first channels. */
  readonly connectMs: number;
  close(): Promise<void>;
}

export async function connectThroughSsh(playbookPath: string, hostName: string): Promise<TunnelledClient> {
  const playbook = await loadPlaybook(playbookPath);
  const host = playbook.hosts.find((h) => h.name === hostName);
  if (!host) throw new Error(`bench: ${playbookPath} has no host ${hostName}`);
  const started = performance.now();
  const transport: RawTransport = await openTransport(host);
  let client: MetaClient;
  try {
    client = await MetaClient.connect(() => transport.openTcp(host.memcached.port), {
      connections: TASK_CONNECTIONS,
    });
  } catch (error) {
    await transport.close();
    throw error;
  }
  return {
    host,
    client,
    openTcp: () => transport.openTcp(host.memcached.port),
    connectMs: performance.now() - started,
    async close() {
      client.close();
      await transport.close();
    },
  };
}
