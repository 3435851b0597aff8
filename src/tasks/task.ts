import { TaskFailed } from '../errors.js';
import type { HostFacts } from '../facts/host-facts.js';
import type { PackageInstall } from '../facts/package-install.js';
import type { BackupHeader } from '../memcached/backup-layout.js';
import type { BackupPath } from '../memcached/backup-path.js';
import type { NewSideGuard } from '../memcached/new-side-guard.js';
import type { FenceRecord, OldSideFence } from '../memcached/old-side-fence.js';
import type { HostConfig, Playbook, Target } from '../playbook/types.js';
import type { GateReport, PlanAction, TaskFigures, TaskName } from '../report/event-types.js';
import type { SwapPath } from '../report/events.js';
import type { TransferMethod, Transport } from '../transport/transport.js';
import type { BuildHostService } from './build-host.js';
import type { BuildExchange, BuildPeer, BuildRole, ShippableBuild } from './build-sharing.js';
import type { OldInstance } from './gates/instance-record.js';
import type { PackageUnpack } from './package-build.js';

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
 *
 * `decision` is what apply executes (Terraform's planned change): apply reads it
 * and recomputes nothing. The engine keeps each task's decision in
 * `HostRun.decisions`, where later plans read it — in --check the swap a plan
 * decided on is all restore has to go on.
 *
 * An `ok` plan with `proves` changes nothing but has apply run read-only checks
 * against the host (verify's sample and gates): the engine applies it, except in
 * --check, where the plan's words are the prediction.
 */
export type Plan<D = undefined> =
  | ({
      readonly status: 'ok';
      readonly detail: string;
      readonly facts: HostFacts;
      readonly proves?: true;
    } & DecisionField<D, 'optional'>)
  | ({
      readonly status: 'changed';
      readonly detail: string;
      readonly facts: HostFacts;
      readonly actions?: readonly PlanAction[];
    } & DecisionField<D, 'required'>)
  | {
      readonly status: 'skipped';
      readonly detail: string;
      readonly facts: HostFacts;
      readonly decision?: undefined;
    };

/** A task without decisions (D = undefined) writes none; one with them must on a changed plan. */
type DecisionField<D, Presence extends 'optional' | 'required'> = [undefined] extends [D]
  ? { readonly decision?: D }
  : Presence extends 'required'
    ? { readonly decision: D }
    : { readonly decision?: D };

/** What each built-in task's plan decides, by task name: the hand-offs later plans may read. */
export interface Decisions {
  readonly backup: BackupDecision;
  readonly build: BuildDecision;
  readonly swap: SwapDecision;
  readonly restore: RestoreDecision;
  readonly verify: VerifyDecision;
}

export type BackupDecision =
  /**
   * Dump the running instance; the sizes are memcached's stats when the plan looked,
   * `path` the protocol its version is read through (memcached/backup-path.ts).
   */
  | { readonly kind: 'dump'; readonly items: number; readonly bytes: number; readonly path: BackupPath }
  /** An interrupted run's backup, never restored, holds more than a dump of what runs now would. */
  | { readonly kind: 'reuse'; readonly file: FinishedBackup };

export interface BuildDecision {
  /**
   * Compile here (and ship to receivers), receive from a builder of the same platform,
   * or unpack a tree shipped from target.build_on's build host or target.prebuilt.
   */
  readonly role: BuildRole;
  /** Builds past keep_builds, removed after the new one is in place. */
  readonly prune: readonly string[];
  /** How files reach and leave this host: its connection's transfer, as the plan found it. */
  readonly transfer: TransferMethod;
  /** target.package: the distro package this host unpacks instead of compiling (package-build.ts). */
  readonly fromPackage?: PackageUnpack;
}

export interface SwapDecision {
  readonly choice: SwapChoice;
  /** An upgrade of a host whose unit runs the distribution's package: a failure returns it there. */
  readonly fromPackage?: PackageInstall;
  /** `memplay rollback` of such a host: back to the package's binary (src/tasks/package-return.ts). */
  readonly toPackage?: PackageInstall;
}

export type RestoreDecision =
  /** The backup this run takes (sealed by swap right before the stop). */
  | { readonly kind: 'run-backup' }
  /** A file: `memplay restore --from`, or the backup an interrupted run left unrestored. */
  | { readonly kind: 'file'; readonly file: FinishedBackup };

export interface VerifyDecision {
  /** The backup the restored (or warm-resumed) items are compared with; undefined: no sample check. */
  readonly sample?: FinishedBackup;
  /** The old instance recorded before the swap: the gates measure the new one against it. */
  readonly gates?: OldInstance;
  /** memplay read this instance in this run: facts' hit ratio counts from verify's note. */
  readonly noteOwnReads: boolean;
}

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
 * What one host's tasks hand to each other within a run, each record written
 * by the task it is named after and read by the tasks after it: a task never
 * writes another's outputs. Plans write nothing here; their decisions are
 * recorded by the engine (`decisions`). Apply writes its outputs as it goes,
 * not only at its end: a swap that fails after the stop must already have said
 * what it stopped, or the engine could not roll the host back.
 */
export interface HostRun {
  /** The engine: the host as found when it connected (command steps with `when: upgrading` look at it). */
  readonly startFacts?: HostFacts;
  /** The engine: this run took over the lock of a run that is gone, whose holder this names. */
  readonly lockTakenOverFrom?: string;
  /** The engine, from each plan: what it decided. Later plans read it. */
  readonly decisions: Partial<{ -readonly [Task in keyof Decisions]: Decisions[Task] }>;
  /** backup's outputs. Read by swap (which seals it), restore, verify, rollback and the engine (pruning, journal). */
  readonly backup: BackupOutputs;
  /** swap's outputs. Read by restore, verify, rollback and the engine (the rollback trigger, events, recap). */
  readonly swap: SwapOutputs;
  /** restore's outputs. Read by verify and rollback. */
  readonly restore: RestoreOutputs;
  /** What the host's run cost its clients, added to by swap, restore and rollback; the recap reports it. */
  readonly account: HostAccount;
}

export interface BackupOutputs {
  /** backup: the full pass is written and the file stays open for the delta pass. */
  open?: ActiveBackup;
  /**
   * The backup sealed and read back: by swap right before the stop (it calls the
   * open backup's finish), by backup itself for `memplay backup`.
   */
  sealed?: FinishedBackup;
}

export interface SwapOutputs {
  /** performance.now() when swap stopped the old instance: out-of-service time runs from here. */
  stoppedAt?: number;
  /**
   * The build `current` named when swap began (null: no link). Set right before
   * swap stops the old instance: from then on a failure rolls the host back to it.
   */
  previousBuild?: string | null;
  /**
   * With no previous build: the distribution's package the unit ran before this
   * swap (set with previousBuild), which a failure returns the host to.
   */
  previousPackage?: PackageInstall;
  /** The old instance's command line (pidfile manager): what a rollback starts it with. */
  previousCommandLine?: readonly string[] | null;
  /** Why the old instance's command line, read back from the host, is not what a rollback runs. */
  previousCommandLineRefused?: string;
  /**
   * The old instance's protocols, `stats settings` and load figures, recorded
   * right before swap stops it: what verify's gates hold the new one to.
   */
  oldInstance?: OldInstance;
  /** The path swap took: warm (proven), or cold (as planned, or the fallback after a warm attempt). */
  taken?: { readonly path: SwapPath; readonly reason: string };
  /** A warm restart brought the cache back and the proof against the backup passed. */
  warmResumed?: { readonly items: number; readonly proof: string };
  /** What the old side's fence recorded once the old instance exited: keys restore leaves out. */
  fenceRecord?: FenceRecord;
}

export interface RestoreOutputs {
  /** What restore wrote back, and from which file (verify compares a sample with it). */
  restored?: { readonly stored: number; readonly keptNewer: number; readonly from: FinishedBackup };
  /** restore's watch of the new instance, open until verify has compared its sample. */
  guard?: NewSideGuard;
}

export interface HostAccount {
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

/** A host's run before any task: nothing decided, nothing produced. */
export function newHostRun(startFacts?: HostFacts, lockTakenOverFrom?: string): HostRun {
  return {
    ...(startFacts ? { startFacts } : {}),
    ...(lockTakenOverFrom ? { lockTakenOverFrom } : {}),
    decisions: {},
    backup: {},
    swap: {},
    restore: {},
    account: {},
  };
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
export type Job = (
  | { readonly kind: 'upgrade' }
  /** `memplay rollback`: each host back to the build `<prefix>/previous` names (what ran before the last swap). */
  | { readonly kind: 'rollback' }
  /** `memplay backup`: back up whatever version runs, and seal the file at once. */
  | { readonly kind: 'backup' }
  /** `memplay restore --from`: a backup file, or a backup folder holding `<host>/*.mpbak`. */
  | { readonly kind: 'restore'; readonly from: string }
) & {
  /**
   * `--trust-backup`: restore a backup file memplay did not write (another user's, one
   * others may write to, a link), which is otherwise refused (src/memcached/backup-trust.ts).
   */
  readonly trustBackup?: boolean;
};

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
   * strategy.instances_together: the other instances of this host in the same rolling
   * batch, changing the host at the same time (a handover's room is checked for all).
   */
  readonly batchSiblings?: readonly HostConfig[];
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
  /** target.build_on: the machine that compiles for the hosts of its platform. */
  readonly buildHost?: BuildHostService;
  /** target.prebuilt: the tree, its sha256 checked on the controller once per run. */
  readonly prebuilt?: () => Promise<ShippableBuild>;
}

/** What a preflight check may look at: the controller's side only, no connection. */
export interface PreflightContext {
  readonly job: Job;
  readonly host: HostConfig;
  readonly playbook: Playbook;
}

export type { BuildPeer } from './build-sharing.js';

/**
 * A task module of any decision type, as the engine and a pipeline hold them:
 * the engine hands each plan back only to the module that made it.
 */
// biome-ignore lint/suspicious/noExplicitAny: each module in a list has its own decision type.
export type AnyTaskModule = TaskModule<any>;

export interface TaskModule<D = unknown> {
  /** A built-in task's name, or a command step's (`tasks:` in the playbook). */
  readonly name: TaskName | (string & {});
  /**
   * Controller-side conditions the task needs, checked for every selected host before
   * any host is connected to, so a refusal comes before anything is changed anywhere
   * (and --check reports it too). Returns why the host cannot run, or undefined.
   */
  preflight?(ctx: PreflightContext): Promise<string | undefined>;
  /** Read-only: decides what apply would do. The same code serves --check. */
  plan(ctx: TaskContext, facts: HostFacts): Promise<Plan<D>>;
  /** Does what the plan decided, and nothing it recomputes; safe to run again. Throws TaskFailed on failure. */
  apply(ctx: TaskContext, plan: Plan<D>): Promise<Outcome>;
  /**
   * Apply changes nothing HostFacts describe (the links, the builds, the process
   * and its command line, the version serving): it works through memcached's port
   * and on the controller's files (a backup also notes its own reads in a file the
   * facts do not read). The runner then keeps the plan's facts rather than reading
   * the host again: each read is a probe command and a version query, and of the
   * three a host's turn made, only the one after swap says anything new.
   */
  readonly leavesFactsAlone?: true;
}

export function ok(detail: string, facts: HostFacts): Plan<never> {
  return { status: 'ok', detail, facts } as Plan<never>;
}

/** A changed plan of a task that decides nothing beyond its words and actions (a command step). */
export function changed(detail: string, facts: HostFacts, actions?: readonly PlanAction[]): Plan {
  return actions ? { status: 'changed', detail, facts, actions } : { status: 'changed', detail, facts };
}

/** A changed plan and the decision apply executes. */
export function decided<D>(
  detail: string,
  facts: HostFacts,
  decision: D,
  actions?: readonly PlanAction[],
): Plan<D> {
  return (actions
    ? { status: 'changed', detail, facts, actions, decision }
    : { status: 'changed', detail, facts, decision }) as unknown as Plan<D>;
}

/**
 * The backup this run carries over: the one swap sealed (or `memplay backup`
 * wrote), else the interrupted run's backup the plan chose to reuse.
 */
export function sealedBackup(run: HostRun): FinishedBackup | undefined {
  if (run.backup.sealed) return run.backup.sealed;
  const planned = run.decisions.backup;
  return planned?.kind === 'reuse' ? planned.file : undefined;
}

/** Any backup file this run reads or writes for the host: kept by pruning, named in the journal. */
export function backupInUse(run: HostRun): FinishedBackup | undefined {
  const restoring = run.decisions.restore;
  return sealedBackup(run) ?? (restoring?.kind === 'file' ? restoring.file : undefined);
}

/** The engine's one write to the decisions: a plan's decision, under its task's name. */
export function recordDecision(run: HostRun, task: string, plan: Plan<unknown>): void {
  if (plan.status === 'skipped' || plan.decision === undefined) return;
  if (!(decisionTasks as readonly string[]).includes(task)) return;
  (run.decisions as Record<string, unknown>)[task] = plan.decision;
}

const decisionTasks: readonly (keyof Decisions)[] = ['backup', 'build', 'swap', 'restore', 'verify'];

/** Declared with this type (not inferred), so TypeScript knows nothing runs after a call. */
export type TaskFailure = (ctx: { readonly host: { readonly name: string } }, detail: string) => never;

/**
 * The one way a task module fails its host: `const fail = failureOf('swap')`,
 * then `fail(ctx, 'what happened — what to do')`. The engine reports it and
 * rolls back when the host was taken down.
 */
export function failureOf(task: TaskName): TaskFailure {
  return (ctx, detail) => {
    throw new TaskFailed(ctx.host.name, task, detail);
  };
}
