import type { HostFacts } from '../facts/host-facts.js';
import type { HostConfig, Target } from '../playbook/types.js';
import type { HostRun } from '../tasks/task.js';
import type { Transport } from '../transport/transport.js';
import type { HostLock } from './host-lock.js';

/** A host this run is connected to, and what its tasks share. */
export interface ConnectedHost {
  readonly kind: 'connected';
  /** The host as this run works on it: the playbook's, with memcached.args carried over where it leaves them out (src/facts/carried-args.ts). */
  readonly host: HostConfig;
  readonly transport: Transport;
  /** What the host is now: re-read after each apply, or what the last plan predicts (--check). */
  facts: HostFacts;
  readonly run: HostRun;
  /** This run's hold on the host's lock (apply), or what --check found: the engine's alone. */
  readonly hostLock: HostLock;
  /** The version this host is taken to: the playbook's, or for `rollback` its previous build. */
  readonly target: Target;
}

export type HostState =
  | { readonly kind: 'pending' }
  | ConnectedHost
  | { readonly kind: 'failed' }
  | { readonly kind: 'unreachable' }
  /** Never started: the run was interrupted, a failure limit stopped it, or the operator said no. */
  | { readonly kind: 'stopped' };

/**
 * Where each host of the run stands. A host's run state is kept once it
 * connected, whatever state it ends in: the recap reads every run. Its
 * connection is closed as soon as its part in the run is over (close), and
 * any still open at the run's end then.
 */
export class FleetState {
  private readonly states = new Map<string, HostState>();
  /** In the order hosts connected. */
  private readonly connections = new Map<string, ConnectedHost>();
  /** Hosts whose connection is closing or closed. */
  private readonly closing = new Map<string, Promise<void>>();

  constructor(hosts: readonly HostConfig[]) {
    for (const host of hosts) this.states.set(host.name, { kind: 'pending' });
  }

  of(host: string): HostState {
    return this.states.get(host) ?? { kind: 'pending' };
  }

  connected(host: string): ConnectedHost | undefined {
    const state = this.states.get(host);
    return state?.kind === 'connected' ? state : undefined;
  }

  connect(host: string, connected: ConnectedHost): void {
    this.connections.set(host, connected);
    this.states.set(host, connected);
  }

  fail(host: string): void {
    this.states.set(host, { kind: 'failed' });
  }

  unreachable(host: string): void {
    this.states.set(host, { kind: 'unreachable' });
  }

  stop(host: string): void {
    this.states.set(host, { kind: 'stopped' });
  }

  /** Not failed, unreachable or stopped: it may still run. */
  runnable(host: string): boolean {
    const kind = this.of(host).kind;
    return kind === 'pending' || kind === 'connected';
  }

  failedCount(): number {
    return [...this.states.values()].filter((s) => s.kind === 'failed' || s.kind === 'unreachable').length;
  }

  /**
   * Ends a connected host's part in the run once, however often it is asked: when
   * its last phase is over (or it can run no more), and again at the run's end.
   * Its run state stays for the recap; only what `close` lets go of goes.
   */
  close(host: string, close: (connected: ConnectedHost) => Promise<void>): Promise<void> {
    const connected = this.connections.get(host);
    if (!connected) return Promise.resolve();
    let closing = this.closing.get(host);
    if (!closing) {
      closing = close(connected);
      this.closing.set(host, closing);
    }
    return closing;
  }

  /** Every connection opened in this run, in the order they opened, closed (close) or not. */
  openedHosts(): readonly string[] {
    return [...this.connections.keys()];
  }

  /** The run state of a host that connected, whatever state it is in now. */
  runOf(host: string): ConnectedHost['run'] | undefined {
    return this.connections.get(host)?.run;
  }

  /** Each connected host's run state, by host name, in the order they connected. */
  runs(): ReadonlyMap<string, ConnectedHost['run']> {
    return new Map([...this.connections].map(([host, connected]) => [host, connected.run]));
  }
}
