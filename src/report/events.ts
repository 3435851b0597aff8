import type { EventTaskName } from '../tasks/task.js';

// The engine speaks only in these events; renderers (listr2, plain, json) and
// the recap are views of them. JSON output writes each one as a line, so field
// names here are a contract.

export type TaskStatus = 'ok' | 'changed' | 'failed' | 'skipped';

export interface HostRecap {
  ok: number;
  changed: number;
  failed: number;
  skipped: number;
  unreachable: boolean;
}

export type RunEvent =
  | {
      readonly event: 'start';
      readonly playbook: string;
      readonly name: string;
      readonly check: boolean;
      readonly hosts: readonly string[];
      readonly tasks: readonly EventTaskName[];
    }
  | {
      readonly event: 'batch';
      readonly phase: string;
      readonly batch: number;
      readonly hosts: readonly string[];
    }
  | { readonly event: 'task-start'; readonly host: string; readonly task: EventTaskName }
  | {
      readonly event: 'task';
      readonly host: string;
      readonly task: EventTaskName;
      readonly status: TaskStatus;
      readonly detail: string;
      readonly check: boolean;
      readonly duration_ms: number;
    }
  | {
      readonly event: 'progress';
      readonly host: string;
      readonly task: EventTaskName;
      readonly message: string;
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
  | {
      readonly event: 'recap';
      readonly hosts: Readonly<Record<string, HostRecap>>;
      readonly interrupted: boolean;
      /** The controller's record of this run (`<backup.dir>/journal.jsonl`); null in --check. */
      readonly journal: string | null;
      /** memplay's own peak resident memory over the run (kernel max RSS), bytes. */
      readonly controller_peak_rss_bytes: number;
    };

export type EventSink = (event: RunEvent) => void;
