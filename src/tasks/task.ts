import type { HostLock } from '../engine/host-lock.js';
import { TaskFailed } from '../errors.js';
import type { HostFacts } from '../facts/host-facts.js';
import type { BackupHeader } from '../memcached/backup-layout.js';
import type { NewSideGuard } from '../memcached/new-side-guard.js';
import type { FenceRecord, OldSideFence } from '../memcached/old-side-fence.js';
import type { HostConfig, Playbook, Target } from '../playbook/types.js';
import type { GateReport, PlanAction, TaskFigures, TaskName } from '../report/event-types.js';
import type { SwapPath } from '../report/events.js';
import type { Transport } from '../transport/transport.js';
import type { BuildExchange } from './build-sharing.js';
import type { OldInstance } from './gates/instance-record.js';

// The event contract's types live with the events (src/report/event-types.ts).
export {
  type EventTaskName,
  type PlanAction,
  type TaskFigures,
  type TaskName,
  taskNames,
} from '../report/event-types.js';

/**
 * What a task would do, decided read-only. `facts` is the host as it will be after
 * apply: the next task plans against it, so --check can plan a swap onto a build
 * that does not exist yet without pretending it does. A changed plan lists its
 * concrete `actions`; `detail` stays the one-line summary apply also reports.
 */
export type Plan =
  | { readonly status: 'ok'; readonly detail: string; readonly facts: HostFacts }
  | {
      readonly status: 'changed';
      readonly detail: string;
      readonly facts: HostFacts;
      readonly actions?: readonly PlanAction[];
    }
  | { readonly status: 'skipped'; readonly detail: string; readonly facts: HostFacts };

export interface Outcome {
  readonly status: 'ok' | 'changed' | 'skipped';
  readonly detail: string;
  /** The numbers `detail` tells in words, for programs: fields of the task's event. */
  readonly figures?: TaskFigures;
}

/** A task failure that still counted what it did (restore below verify.min_restored_ratio). */
export class TaskFailedWithFigures extends TaskFailed {
  constructor(
    host: string,
    task: string,
    detail: string,
    readonly figures: TaskFigures,
  ) {
    super(host, task, detail);
  }
}

/**
 * What one host's tasks hand to each other within a run: the backup the backup
 * task started (finished by swap right before it stops the old instance) and
 * the file restore reads. Plans record intent here too, so --check can say what
 * restore would do after a backup that has not happened.
 */
export interface HostRun {
  /** The host as found when it connected: command steps with `when: upgrading` look at it. */
  startFacts?: HostFacts;
  /** One run per host: this run's hold on the host's lock (apply), or what --check found. */
  hostLock?: HostLock;
  plannedBackup?: { readonly items: number; readonly bytes: number };
  backup?: ActiveBackup;
  backupFile?: FinishedBackup;
  /** `memplay restore`: the verified file its plan chose. */
  restoreSource?: FinishedBackup;
  restored?: { readonly stored: number; readonly keptNewer: number };
  /** performance.now() when swap stopped the old instance: out-of-service time runs from here. */
  stoppedAt?: number;
  /**
   * The build `current` named when swap began (null: no link). Set right before
   * swap stops the old instance: from then on a failure rolls the host back to it.
   */
  previousBuild?: string | null;
  /** The old instance's command line (pidfile manager): what a rollback starts it with. */
  previousCommandLine?: readonly string[] | null;
  /**
   * The old instance's protocols, `stats settings` and load figures, recorded
   * right before swap stops it: what verify's gates hold the new one to.
   */
  oldInstance?: OldInstance;
  /** The path swap planned (swap.mode), and why. */
  swapChoice?: SwapChoice;
  /** The path swap took: warm (proven), or cold (as planned, or the fallback after a warm attempt). */
  swapTaken?: { readonly path: SwapPath; readonly reason: string };
  /** A warm restart brought the cache back and the proof against the backup passed. */
  warmResumed?: { readonly items: number; readonly proof: string };
  /** What the old side's fence recorded once the old instance exited: keys restore leaves out. */
  fenceRecord?: FenceRecord;
  /** restore's watch of the new instance, open until verify has compared its sample. */
  newSideGuard?: NewSideGuard;
  /**
   * Values a client may read older than one it wrote or deleted: changes the
   * old side's watch could not name, and client deletes during the restore that
   * it could not undo. `unknown`: why a part could not be counted.
   */
  possiblyStale?: { readonly count: number; readonly unknown?: string };
  /**
   * Keys memplay made a miss on purpose: a client changed them on the old
   * instance after memplay's last read of them (left out of the restore, or
   * deleted on the new build in a handover). Acknowledged writes lost are among them.
   */
  leftOut?: number;
  /** The host's out-of-service time so far: from the stop until it served (warm: proven; cold: restored). */
  outOfServiceMs?: number;
}

export type SwapChoice =
  | { readonly path: 'warm'; readonly reason: string; readonly memoryFile: string }
  | {
      readonly path: 'handover';
      readonly reason: string;
      /** The memory file the new build runs on from the handover on (`-e` of the effective args). */
      readonly memoryFile: string;
      /** Where the new build starts beside the old one: a port nothing answered on. */
      readonly sidePort: number;
    }
  | { readonly path: 'cold'; readonly reason: string };

export interface ActiveBackup {
  /** Delta pass, then complete, fsync and rename the file. Called while the old instance still serves. */
  finish(): Promise<FinishedBackup>;
  /** Removes the partial file. */
  abort(): Promise<void>;
}

export interface FinishedBackup {
  readonly path: string;
  /** Set once the file was read back and its checksums matched. */
  readonly verifiedHeader?: BackupHeader;
  readonly items: number;
  readonly valueBytes: number;
  readonly deltaMs: number;
  readonly summary: string;
  /** Something the user must hear about this backup (a delta pass cut short). */
  readonly warning?: string;
  /**
   * The old instance's change watch, open from before the delta pass: swap
   * checks and settles it around the stop, so no key a client changed after
   * memplay read it is restored older (src/memcached/old-side-fence.ts).
   */
  readonly fence?: OldSideFence;
}

/** What the run is for: the same task modules serve the upgrade and the standalone commands. */
export type Job =
  | { readonly kind: 'upgrade' }
  /** `memplay rollback`: each host back to the build `<prefix>/previous` names (what ran before the last swap). */
  | { readonly kind: 'rollback' }
  /** `memplay backup`: back up whatever version runs, and seal the file at once. */
  | { readonly kind: 'backup' }
  /** `memplay restore --from`: a backup file, or a backup folder holding `<host>/*.mpbak`. */
  | { readonly kind: 'restore'; readonly from: string };

export interface TaskContext {
  readonly job: Job;
  readonly host: HostConfig;
  readonly transport: Transport;
  readonly target: Target;
  readonly playbook: Playbook;
  /** Per-run shared work, e.g. the downloaded/verified tarball. */
  readonly shared: SharedWork;
  readonly run: HostRun;
  /** The hosts working through this phase batch with this one, as they were when it started (in order). */
  readonly peers: readonly BuildPeer[];
  /**
   * Live progress for the renderer: what the task is doing now (`phase`), and how
   * far it is when that can be counted (items, bytes, compiled files).
   */
  progress(phase: string, counts?: ProgressCounts): void;
  /** One of verify's gates decided (or was skipped): a `gate` event for every renderer. */
  reportGate(report: GateReport): void;
  readonly signal: AbortSignal;
}

/**
 * How far a phase is. A total is what the phase expects when it starts (memcached's
 * stats, the backup file's header, `make -n`); a count can end below an estimated total.
 */
export interface ProgressCounts {
  readonly items?: number;
  readonly itemsTotal?: number;
  /** What `items` counts when it is not cache items, e.g. `files` for compiled files. */
  readonly unit?: string;
  readonly bytes?: number;
  readonly bytesTotal?: number;
}

export interface SharedWork {
  /** The local tarball, verified against target.sha256; computed once per run. */
  localTarball(): Promise<string>;
  /** Builds compiled on one host and shipped to the others of the same platform. */
  readonly builds: BuildExchange;
}

export interface BuildPeer {
  readonly name: string;
  readonly facts: HostFacts;
  readonly target: Target;
}

/** What a preflight check may look at: the controller's side only, no connection. */
export interface PreflightContext {
  readonly job: Job;
  readonly host: HostConfig;
  readonly playbook: Playbook;
}

export interface TaskModule {
  /** A built-in task's name, or a command step's (`tasks:` in the playbook). */
  readonly name: TaskName | (string & {});
  /**
   * Controller-side conditions the task needs, checked for every selected host before
   * any host is connected to, so a refusal comes before anything is changed anywhere
   * (and --check reports it too). Returns why the host cannot run, or undefined.
   */
  preflight?(ctx: PreflightContext): Promise<string | undefined>;
  /** Read-only: decides what apply would do. The same code serves --check. */
  plan(ctx: TaskContext, facts: HostFacts): Promise<Plan>;
  /** Does what the plan said; safe to run again. Throws TaskFailed on failure. */
  apply(ctx: TaskContext, plan: Plan): Promise<Outcome>;
}

export function ok(detail: string, facts: HostFacts): Plan {
  return { status: 'ok', detail, facts };
}

export function changed(detail: string, facts: HostFacts, actions?: readonly PlanAction[]): Plan {
  return actions ? { status: 'changed', detail, facts, actions } : { status: 'changed', detail, facts };
}
