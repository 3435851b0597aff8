import { errorMessage } from '../errors.js';
import { parseProbeOutput, probeCommand } from '../facts/host-facts.js';
import type { BuildHost, HostConfig } from '../playbook/types.js';
import type { Transport } from '../transport/transport.js';
import type { BuildHostState, ShippableBuild } from './build-sharing.js';

// target.build_on: one machine compiles for every host of its platform that needs
// the build. It is reached over a connection of its own, opened the first time a
// plan asks for its platform and closed at the end of the run; it is never locked,
// backed up or upgraded through that connection (a host of the fleet named by
// build_on is upgraded through its own, as any other).

/** Compiles and packs the target on the build host: build.ts does it, with the build host's transport. */
export type ProduceBuild = (transport: Transport, host: HostConfig) => Promise<ShippableBuild>;

export class BuildHostService {
  private connection: Promise<Transport> | undefined;
  private state: Promise<BuildHostState> | undefined;
  private readonly builds = new Map<string, Promise<ShippableBuild>>();

  constructor(
    readonly buildHost: BuildHost,
    private readonly connect: (host: HostConfig) => Promise<Transport>,
  ) {}

  /** `the controller`, `build host buildbox`: how reports name it. */
  get label(): string {
    return this.buildHost.where === 'controller'
      ? 'the controller'
      : `build host ${this.buildHost.host.name}`;
  }

  /** Read-only: connects once and reads the platform and build tools, as a host's facts do. */
  platform(): Promise<BuildHostState> {
    const label = this.label;
    this.state ??= (async (): Promise<BuildHostState> => {
      try {
        const transport = await this.transport();
        const probe = await transport.run(probeCommand(this.buildHost.host));
        if (probe.code !== 0) {
          return {
            kind: 'unreachable',
            label,
            reason: `its fact probe exited ${probe.code}: ${probe.stderr.trim()}`,
          };
        }
        return { kind: 'ready', label, platform: parseProbeOutput(probe.stdout).platform };
      } catch (error) {
        return { kind: 'unreachable', label, reason: errorMessage(error) };
      }
    })();
    return this.state;
  }

  /**
   * The packed tree for `fingerprint`, compiled once per run whichever host asks
   * first; every later host gets the same tree (or the same failure).
   */
  shippable(fingerprint: string, produce: ProduceBuild): Promise<ShippableBuild> {
    let build = this.builds.get(fingerprint);
    if (!build) {
      build = this.transport().then((transport) => produce(transport, this.buildHost.host));
      this.builds.set(fingerprint, build);
    }
    return build;
  }

  async close(): Promise<void> {
    const transport = await this.connection?.catch(() => undefined);
    await transport?.close().catch(() => {});
  }

  private transport(): Promise<Transport> {
    this.connection ??= this.connect(this.buildHost.host);
    return this.connection;
  }
}
