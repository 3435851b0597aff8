import type { HostLock } from '../engine/host-lock.js';
import { TaskFailed } from '../errors.js';
import type { HostFacts } from '../facts/host-facts.js';
import type { BackupHeader } from '../memcached/backup-layout.js';
import type { NewSideGuard } from '../memcached/new-side-guard.js';
import type { FenceRecord, OldSideFence } from '../memcached/old-side-fence.js';
import type { TaskName } from '../playbook/task-order.js';
import type { HostConfig, Playbook, Target } from '../playbook/types.js';
import type { SwapPath } from '../report/events.js';
import type { Transport } from '../transport/transport.js';
import type { BuildExchange } from './build-sharing.js';
import type { GateReport } from './gates/gate-result.js';
import type { OldInstance } from './gates/instance-record.js';

export { type TaskName, taskNames } from '../playbook/task-order.js';
/** What events name: a pipeline task, a playbook's own command step (by its name), or the rollback the engine runs after one failed. */
export type EventTaskName = TaskName | 'rollback' | (string & {});

/**
 * One concrete step a changed plan would take, with its size where it has one.
 * `--check` prints `text` as a list under the host; JSON carries the whole object
 * (`kind` and the numbers are the contract, `text` is for people), and the fleet
 * summary adds up the numbers.
 */
export interface PlanAction {
  readonly kind:
    | 'download'
    | 'compile'
    | 'ship'
    | 'prune'
    | 'backup'
    | 'stop'
    | 'repoint'
    | 'start'
    | 'restore';
  readonly text: string;
  /** Items a backup or restore would carry. */
  readonly items?: number;
  /** Bytes: memcached's `bytes` stat for a backup, value bytes for a restore of a file, tarball size. */
  readonly bytes?: number;
  /** The memcached version built, shipped, started or stopped. */
  readonly version?: string;
  /** ship: the host that compiles the build. */
  readonly from?: string;
  /** stop/start: the memcached port (out of service between the two). */
  readonly port?: number;
  /** stop: how long the host is expected out of service, from the cache's size (src/tasks/out-of-service-estimate.ts). */
  readonly out_of_service_estimate_ms?: number;
}

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

/**
 * What a task carried, counted: each figure becomes a field of its `task` event
 * under this name, so a program never reads numbers out of `detail`.
 */
export interface TaskFigures {
  /**
   * Items carried: backed up (backup), written back by memplay (restore, rollback; what
   * a client had rewritten first is `kept_newer`), resumed in place (swap, warm or handover).
   */
  readonly items?: number;
  /** The value bytes of those items. */
  readonly bytes?: number;
  /** restore: items that expired before they could be restored. */
  readonly skipped?: number;
  /** restore, rollback: items a client had written to the new instance first; its value was kept. */
  readonly kept_newer?: number;
  /** restore: items the new instance evicted while restoring (the cache does not fit its memory). */
  readonly evicted?: number;
  /** restore, rollback: keys made a miss on purpose, as the recap's `left_out` counts them. */
  readonly left_out?: number;
  /** restore: values a client may read older than one it wrote or deleted, as the recap's `possibly_stale`. */
  readonly possibly_stale?: number;
  /** restore, rollback: items the new instance refused as too large for its item size limit. */
  readonly too_large?: number;
  /** restore, rollback: items that did not fit in the new instance's memory. */
  readonly out_of_memory?: number;
  /** restore, rollback: keys the meta protocol cannot address. */
  readonly unaddressable?: number;
  /** backup (`memplay backup`), restore, rollback: the backup file written or read. */
  readonly backup_file?: string;
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
