// Typed, user-facing errors. One place (src/cli/exit-codes.ts) maps them to exit codes.
// Each message says where, what happened, and what to do next.

export interface Diagnostic {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly col: number;
  readonly message: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col}: ${d.message}`;
}

/** The playbook is unreadable, malformed or invalid. Nothing was run on any host. */
export class PlaybookError extends Error {
  readonly diagnostics: readonly Diagnostic[];
  constructor(diagnostics: readonly Diagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'));
    this.name = 'PlaybookError';
    this.diagnostics = diagnostics;
  }
}

/** Bad command-line options (unknown --limit pattern, bad --forks …). */
export class UsageError extends Error {
  override name = 'UsageError';
}

export type UnreachableReason =
  | 'host-key-unknown'
  | 'host-key-changed'
  | 'auth'
  | 'connect'
  | 'timeout'
  | 'disconnected';

/** The host could not be reached, or its identity could not be trusted. No command was run on it. */
export class HostUnreachable extends Error {
  override name = 'HostUnreachable';
  constructor(
    readonly host: string,
    readonly reason: UnreachableReason,
    message: string,
  ) {
    super(`${host}: ${message}`);
  }
}

/** A task failed on a host; the message carries the task and the next step. */
export class TaskFailed extends Error {
  override name = 'TaskFailed';
  constructor(
    readonly host: string,
    readonly task: string,
    readonly detail: string,
  ) {
    super(`${host} ${task}: ${detail}`);
  }
}

/** How a failed connection (or first fact probe) is reported: the reason when typed, else `connect`. */
export function unreachableReport(error: unknown): { reason: string; detail: string } {
  return {
    reason: error instanceof HostUnreachable ? error.reason : 'connect',
    detail: errorMessage(error),
  };
}

/** The message of anything thrown: an Error's message, else the value as text. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
