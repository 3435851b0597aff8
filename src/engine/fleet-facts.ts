import { unreachableReport } from '../errors.js';
import type { FleetFacts } from '../facts/fleet-facts.js';
import { gatherFacts, type HostFacts } from '../facts/host-facts.js';
import { servingStats } from '../facts/serving-stats.js';
import type { HostConfig } from '../playbook/types.js';
import type { Transport } from '../transport/transport.js';
import { forEachLimited } from './batches.js';

// `memplay facts`: the engine's connect and fact probe, and nothing else, across
// the selected hosts (up to forks at once). Nothing is changed on any host.

export type { FleetFacts } from '../facts/fleet-facts.js';

export async function gatherFleetFacts(
  hosts: readonly HostConfig[],
  options: {
    readonly forks: number;
    readonly connect: (host: HostConfig) => Promise<Transport>;
    readonly problemOf?: (host: HostConfig, facts: HostFacts) => string | null;
  },
): Promise<FleetFacts[]> {
  const results = new Map<string, FleetFacts>();
  await forEachLimited(hosts, options.forks, async (host) => {
    let transport: Transport | undefined;
    try {
      transport = await options.connect(host);
      const facts = await gatherFacts(host, transport);
      // After the probe, not beside it: curr_connections then counts one connection of ours, not two.
      const stats = await servingStats(transport, host.memcached.port, host.memcached.prefix);
      const problem = options.problemOf?.(host, facts) ?? null;
      // Read-only: an SFTP session opened and closed.
      const transfer = await transport.transferMethod();
      results.set(host.name, { host, reachable: true, facts, stats, problem, transfer });
    } catch (error) {
      results.set(host.name, { host, reachable: false, ...unreachableReport(error) });
    } finally {
      await transport?.close().catch(() => {});
    }
  });
  // Playbook order, whatever order the hosts answered in.
  return hosts.map((host) => results.get(host.name) as FleetFacts);
}
