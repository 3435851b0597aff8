import type { HostConfig } from '../playbook/types.js';
import type { TransferMethod } from '../transport/transport.js';
import type { HostFacts } from './host-facts.js';
import type { ServingStats } from './serving-stats.js';

// What `memplay facts` found on one host: the shape the engine gathers
// (src/engine/fleet-facts.ts) and the report renders (src/report/facts-view.ts),
// kept here below both so the report needs nothing from the engine.

export type FleetFacts =
  | {
      readonly host: HostConfig;
      readonly reachable: true;
      readonly facts: HostFacts;
      /** null: nothing answers on the memcached port. */
      readonly stats: ServingStats | null;
      /** Why the running memcached and the playbook disagree (src/facts/running-instance.ts); null: they agree. */
      readonly problem: string | null;
      /** How a build's files would reach the host: SFTP, or an exec stream where sshd refuses the subsystem. */
      readonly transfer: TransferMethod;
    }
  | {
      readonly host: HostConfig;
      readonly reachable: false;
      readonly reason: string;
      readonly detail: string;
    };
