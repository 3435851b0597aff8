import type { HostConfig, Playbook } from '../playbook/types.js';
import type { EventSink, HostRecap } from '../report/events.js';
import type { Job, SharedWork } from '../tasks/task.js';
import type { Transport } from '../transport/transport.js';
import type { ConfirmBatch } from './between-batches.js';
import type { EngineDeps } from './deps.js';
import type { LockHolder } from './host-lock.js';
import type { FleetState } from './host-state.js';
import type { InstanceSharing } from './instance-sharing.js';
import type { Journal } from './journal.js';
import type { RunRecap } from './recap.js';

export interface RunOptions {
  readonly job: Job;
  readonly check: boolean;
  readonly forks: number;
  readonly connect: (host: HostConfig) => Promise<Transport>;
  readonly emit: EventSink;
  /** Ctrl-C: running steps finish, nothing new starts. */
  readonly signal: AbortSignal;
  /** Where task results are recorded for the operator (not in --check). */
  readonly journal?: Journal;
  /** The run log's folder, for the recap to name (the caller writes it). */
  readonly runLog?: string;
  /** memplay's own version, for the `start` event. */
  readonly memplayVersion: string;
  /** strategy.confirm_between_batches: how the operator is asked (see between-batches.ts). */
  readonly confirmBatch?: ConfirmBatch;
  /** --yes: strategy.confirm_between_batches' questions are answered yes without asking. */
  readonly assumeYes?: boolean;
  /** Replaces what the engine reaches out to (facts, locks, rollback, pruning): tests script them. */
  readonly deps?: Partial<EngineDeps>;
}

export interface RunResult {
  readonly recap: Readonly<Record<string, HostRecap>>;
  readonly interrupted: boolean;
}

/**
 * Why no further batch starts, once something said so: a failure limit, a
 * refusal before the run, the operator's no between batches, or Ctrl-C.
 */
export class RunStop {
  private stoppedWith: string | undefined;
  private declinedByOperator = false;

  constructor(private readonly signal: AbortSignal) {}

  /** No further batch starts; its hosts are skipped with `detail`. */
  stop(detail: string): void {
    this.stoppedWith = detail;
  }

  /** The operator answered no between two batches: the run ends as if interrupted. */
  decline(detail: string): void {
    this.stop(detail);
    this.declinedByOperator = true;
  }

  /** A limit or the operator stopped the run (Ctrl-C aside). */
  get stopped(): boolean {
    return this.stoppedWith !== undefined;
  }

  /** Why a batch does not start, or undefined when it may. */
  get reason(): string | undefined {
    return this.signal.aborted ? 'interrupted' : this.stoppedWith;
  }

  get interrupted(): boolean {
    return this.signal.aborted || this.declinedByOperator;
  }
}

/** What every part of a run works with. */
export interface RunContext {
  readonly playbook: Playbook;
  readonly hosts: readonly HostConfig[];
  readonly options: RunOptions;
  readonly check: boolean;
  /** The run's event sink: --check's rolling phase is shown batch by batch (ordered-emission.ts). */
  readonly emit: EventSink;
  readonly deps: EngineDeps;
  readonly shared: SharedWork;
  readonly fleet: FleetState;
  readonly recap: RunRecap;
  readonly stop: RunStop;
  /** Written into each host's lock: who holds it, since when. */
  readonly lockHolder: LockHolder;
  /** What the instances of one host share: its lock, and their turns in the prepare phase. */
  readonly instances: InstanceSharing;
}
