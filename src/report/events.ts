import type { Diagnostic } from '../errors.js';
import type { EventTaskName, GateReport, JobKind, PlanAction, TaskFigures } from './event-types.js';

// The engine speaks only in these events; renderers (listr2, plain, json) and
// the recap are views of them. JSON output writes each one as a line, stamped
// with run_id, ts and schema (envelope.ts), so field names here are a contract:
// schemas/events.schema.json describes it, and fields are added, never renamed
// or removed.

export type TaskStatus = 'ok' | 'changed' | 'failed' | 'skipped';

/** The way swap took a host to the new build (`swap_mode` in events and the recap). */
export type SwapPath = 'warm' | 'cold' | 'handover';

export interface HostRecap {
  ok: number;
  changed: number;
  failed: number;
  skipped: number;
  unreachable: boolean;
  /** The path swap took on this host, when it swapped in this run. */
  swap_mode?: SwapPath;
  /** How long the host was out of service, when it was stopped in this run (see the task event's field). */
  out_of_service_ms?: number;
  /**
   * Once the host's data was carried in this run: how many values a client may
   * read older than one it wrote or deleted — changes the old side's watch could
   * not name, and client deletes during a cold restore that could not be undone.
   * Never lower than what clients see. 0 on an exact carry.
   */
  possibly_stale?: number;
  /** Why part of possibly_stale could not be counted (e.g. an old instance stopped by SIGTERM). */
  possibly_stale_uncounted?: string;
  /**
   * Keys memplay made a miss on purpose because a client changed them on the old
   * instance after memplay last read them (cold: left out of the restore, or
   * restored and deleted again because a client had missed on it first;
   * handover: deleted on the new build). Writes clients saw acknowledged and then
   * missed are among these, never beyond them.
   */
  left_out?: number;
  /** Backups `backup.keep` removed from the host's folder after its run (--check: would remove). */
  pruned_backups?: number;
  /** The bytes they held on the controller's disk, sidecars included. */
  pruned_bytes?: number;
}

/** One backup `backup.keep` removes, with its sidecar files. */
export interface PrunedBackupReport {
  /** Its file name in the host's folder. */
  readonly file: string;
  /** When it was taken (ISO 8601 UTC); null for a sidecar left without its backup. */
  readonly created_at: string | null;
  readonly bytes: number;
  /** Why the policy removes it: `beyond the newest 3`, `older than 7d`. */
  readonly reason: string;
}

/** The fleet's --check plans added up (src/engine/plan-summary.ts). */
export interface PlanSummary {
  readonly hosts: number;
  /** Hosts some task would change, in playbook order. */
  readonly changing: readonly string[];
  readonly unchanged: readonly string[];
  /** Hosts whose plan failed or that could not be reached: apply would not get far on them. */
  readonly failed: readonly string[];
  readonly unreachable: readonly string[];
  /** Each failed host's first failing task and its message: what apply would stop at. */
  readonly failures: readonly { readonly host: string; readonly task: string; readonly detail: string }[];
  readonly compile: readonly { readonly host: string; readonly version: string }[];
  readonly ship: readonly { readonly host: string; readonly from: string; readonly version: string }[];
  /** target.package: the hosts that would unpack the distro's package; absent when none would. */
  readonly unpack?: readonly { readonly host: string; readonly version: string }[];
  readonly backup_hosts: number;
  readonly backup_items: number;
  /** memcached's `bytes` stat summed over the hosts to back up. */
  readonly backup_bytes: number;
  /**
   * The rolling batches apply would run, in order (strategy.serial; hosts with nothing
   * to change first, together, marked on_target); out_of_service: the hosts of the
   * batch whose memcached would be stopped.
   */
  readonly batches: readonly {
    readonly batch: number;
    readonly hosts: readonly string[];
    readonly out_of_service: readonly string[];
    readonly on_target?: true;
  }[];
  readonly max_out_of_service: number;
  /** strategy.pause_between_batches, seconds. */
  readonly pause_between_batches: number;
  readonly confirm_between_batches: boolean;
  /** strategy.max_failed_hosts as a count of the selected hosts; null when not set. */
  readonly max_failed_hosts: number | null;
}

/** A rolling batch about to start: `batch` of the phase's `batches`, with the hosts it will run. */
export interface BatchPosition {
  readonly phase: string;
  readonly batch: number;
  readonly batches: number;
  readonly hosts: readonly string[];
}

export type RunEvent =
  | {
      readonly event: 'start';
      readonly playbook: string;
      readonly name: string;
      readonly check: boolean;
      readonly hosts: readonly string[];
      readonly tasks: readonly EventTaskName[];
      /** What the run is: `upgrade` (apply), `rollback`, `backup` or `restore`. */
      readonly job: JobKind;
      /** memplay's own version (package.json). */
      readonly memplay_version: string;
      /**
       * The version hosts are taken to: the playbook's target.version. null in a
       * rollback, where each host goes back to its own previous build: its
       * version_check event's `target_version`.
       */
      readonly target_version: string | null;
      /** rollback: the playbook's target.version, the version hosts are taken back from. */
      readonly rollback_from?: string;
      /** This run's log folder (as the recap's `log`); null when it could not be written. */
      readonly log: string | null;
      /** The controller's record of runs (as the recap's `journal`); null in --check. */
      readonly journal: string | null;
    }
  | {
      readonly event: 'batch';
      readonly phase: string;
      readonly batch: number;
      /** How many batches the phase has: `batch` of `batches`. */
      readonly batches: number;
      readonly hosts: readonly string[];
      /** A rolling batch of hosts already on their target: nothing in it is stopped. */
      readonly on_target?: true;
    }
  /** strategy.pause_between_batches: the run waits `seconds` before batch `batch` of `batches` starts. */
  | ({ readonly event: 'pause'; readonly seconds: number } & BatchPosition)
  /**
   * strategy.confirm_between_batches: the answer to "may batch `batch` start?";
   * assumed: given by --yes, nobody was asked. A `no` is followed by `aborted`.
   */
  | ({ readonly event: 'confirm'; readonly answer: 'yes' | 'no'; readonly assumed: boolean } & BatchPosition)
  | { readonly event: 'task-start'; readonly host: string; readonly task: EventTaskName }
  | ({
      readonly event: 'task';
      readonly host: string;
      readonly task: EventTaskName;
      readonly status: TaskStatus;
      readonly detail: string;
      readonly check: boolean;
      readonly duration_ms: number;
      /** --check, a task that would change the host: its concrete steps, with sizes. */
      readonly actions?: readonly PlanAction[];
      /**
       * swap and restore: the path swap takes (--check: would take) on this host,
       * `warm` (SIGUSR1, resume the memory file, proven against the backup), `handover`
       * (the new build filled beside the old one, then a warm restart on the port) or `cold`.
       */
      readonly swap_mode?: SwapPath;
      /** Why swap takes that path (a cold fallback after a warm attempt says what fell short). */
      readonly swap_reason?: string;
      /** What clients can count on along that path (src/tasks/guarantee.ts); --check prints it under the host. */
      readonly swap_guarantee?: string;
      /**
       * swap and restore, once the host was stopped in this run: milliseconds out of
       * service so far — warm: from SIGUSR1 until the new instance answered on the
       * port (its proof reads while it serves; a proof that fails falls back to cold,
       * and the window runs on); handover: from the old instance's SIGUSR1 until the
       * new build answered on the port; cold: from the stop until the new instance
       * served (swap), then until the backup was restored into it (restore).
       */
      readonly out_of_service_ms?: number;
      /** version_check: the version this host is taken to (in a rollback, its previous build). */
      readonly target_version?: string;
      /** version_check: what the host's memcached port answered to `version` (null: nothing answers). */
      readonly running_version?: string | null;
    } & TaskFigures)
  /**
   * One of verify's gates (protocol, settings, performance) on a host, with
   * its figures; emitted before verify's own `task` event. `status` is passed,
   * failed (in --check: would fail) or skipped.
   */
  | ({
      readonly event: 'gate';
      readonly host: string;
      readonly task: EventTaskName;
      readonly check: boolean;
    } & GateReport)
  | {
      readonly event: 'progress';
      readonly host: string;
      readonly task: EventTaskName;
      /** The phase and its counts in words: `backup full pass · 41,200/100,000 items · 48.0/119.0 MiB`. */
      readonly message: string;
      /** What the task is doing now (`backup full pass`, `make`, `restore`). */
      readonly phase?: string;
      /** Items done in this phase, and the total expected when it is known. */
      readonly items?: number;
      readonly items_total?: number;
      /** What `items` counts when not cache items (`files` compiled by make). */
      readonly unit?: string;
      /** Bytes done in this phase (item values, or a file's bytes uploaded), and the total when known. */
      readonly bytes?: number;
      readonly bytes_total?: number;
    }
  | { readonly event: 'unreachable'; readonly host: string; readonly reason: string; readonly detail: string }
  /** --accept-new-host-keys trusted a host seen for the first time and wrote its key to known_hosts. */
  | {
      readonly event: 'host-key-accepted';
      readonly host: string;
      /** `[addr]:port`, as written to the file. */
      readonly name: string;
      readonly known_hosts: string;
      readonly key_type: string;
      readonly fingerprint: string;
    }
  /**
   * A connection offered the weak algorithms `ssh.legacy_algorithms` names (a warning):
   * `in_use` are those the key exchange settled on, empty when the server chose strong ones.
   */
  | {
      readonly event: 'ssh-legacy-algorithms';
      readonly host: string;
      /** The jump host the connection went through, if any. */
      readonly via?: string;
      readonly offered: readonly string[];
      readonly in_use: readonly string[];
    }
  | {
      readonly event: 'command';
      readonly host: string;
      readonly command: string;
      readonly code: number;
      readonly duration_ms: number;
      readonly stdout: string;
      readonly stderr: string;
    }
  | { readonly event: 'aborted'; readonly reason: string }
  /**
   * After a task's apply, the host differs from what its plan predicted on a
   * field the plan set (Terraform's "inconsistent final plan"): a warning, not a
   * failure; later tasks plan against what was found. `field`: runningVersion,
   * currentLink or builds (the installed builds, listed).
   */
  | {
      readonly event: 'plan-drift';
      readonly host: string;
      readonly task: EventTaskName;
      readonly field: string;
      readonly planned: string | null;
      readonly found: string | null;
    }
  /**
   * After apply, rollback or backup succeeded on a host: the backups `backup.keep`
   * removed from its folder (--check: would remove), each with its sidecars. Sent
   * only when there is something to remove, or a file could not be read or removed.
   */
  | {
      readonly event: 'backups-pruned';
      readonly host: string;
      readonly check: boolean;
      /** The host's backup folder. */
      readonly folder: string;
      /** The policy, as written: `count 3, max_age 7d`. */
      readonly keep: string;
      readonly pruned: readonly PrunedBackupReport[];
      /** Bytes freed on the controller's disk (--check: that would be). */
      readonly freed_bytes: number;
      /** Backups left in the folder: this run's, the newest, unrestored ones, files memplay cannot read. */
      readonly kept: number;
      /** What could not be read or removed; such a backup stays. */
      readonly problems?: readonly string[];
    }
  /** --check only, right before the recap: the fleet's plans added up. */
  | ({ readonly event: 'plan-summary' } & PlanSummary)
  | {
      readonly event: 'recap';
      readonly hosts: Readonly<Record<string, HostRecap>>;
      readonly interrupted: boolean;
      /** The controller's record of this run (`<backup.dir>/journal.jsonl`); null in --check. */
      readonly journal: string | null;
      /** memplay's own peak resident memory over the run (kernel max RSS), bytes. */
      readonly controller_peak_rss_bytes: number;
      /** This run's log folder (`.memplay/runs/<time>/`); null when it could not be written. */
      readonly log: string | null;
    };

export type EventSink = (event: RunEvent) => void;

/** Why a command stopped without a recap: before any host was contacted, or on a bug. */
export type ErrorKind = 'playbook' | 'usage' | 'unreachable' | 'internal';

/**
 * With --output json, what a command that stops on an error prints on stdout (the
 * message for people still goes to stderr): the last line of its output.
 */
export interface ErrorEvent {
  readonly event: 'error';
  /** playbook: the file is invalid (exit 4); usage: the command line (exit 5); internal: a bug (exit 250). */
  readonly kind: ErrorKind;
  /** The message as stderr prints it, without the next step. */
  readonly message: string;
  /** kind playbook: every problem, at its place in the file. */
  readonly diagnostics?: readonly Diagnostic[];
  readonly exit_code: number;
}

/** `memplay validate --output json`: the one line it prints. */
export interface ValidateEvent {
  readonly event: 'validate';
  readonly file: string;
  readonly valid: boolean;
  /** Every problem, at its place in the file; empty when valid. */
  readonly diagnostics: readonly Diagnostic[];
  readonly exit_code: number;
}
