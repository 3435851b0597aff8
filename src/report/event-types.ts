// The types of the event contract that tasks and the engine fill in and renderers
// and JSON consumers read: task names, a plan's actions, a task's figures, the
// job kinds and the gates' reports. They live here, with the events, so report/
// needs nothing from tasks/ or engine/; those import them from here.

export type {
  GateName,
  GateReport,
  GateStatus,
  LoadFigures,
  PerformanceSide,
  ProbeAnswer,
  ProtocolComparison,
  SettingDifference,
} from './gate-report.js';

import type { TaskName } from '../playbook/task-order.js';

// The task order is declared once, with the playbook's format (src/playbook/task-order.ts).
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
    | 'unpack'
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
  /** The memcached version built, unpacked (target.package), shipped, started or stopped. */
  readonly version?: string;
  /** ship: where the build comes from: the host that compiles it, `build host <name>`, `the controller` or `prebuilt <file name>`. */
  readonly from?: string;
  /** compile, ship: how files reach the host — `sftp`, `exec-stream` (sshd refuses SFTP) or `local`. */
  readonly transfer?: 'sftp' | 'exec-stream' | 'local';
  /** stop/start: the memcached port (out of service between the two). */
  readonly port?: number;
  /** stop: how long the host is expected out of service, from the cache's size (src/tasks/out-of-service-estimate.ts). */
  readonly out_of_service_estimate_ms?: number;
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

/** What a run is for, as the `start` event's `job` names it (src/tasks/task.ts's Job carries the details). */
export type JobKind = 'upgrade' | 'rollback' | 'backup' | 'restore';
