import { HostUnreachable, PlaybookError, UsageError } from '../errors.js';
import type { HostRecap } from '../report/events.js';

// As Ansible's, so existing wrappers keep working.
export const ExitCode = {
  ok: 0,
  hostFailed: 2,
  hostUnreachable: 3,
  invalidPlaybook: 4,
  badOptions: 5,
  interrupted: 99,
  internal: 250,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A failed host outranks an unreachable one: it may have been changed. */
export function exitCodeForRecap(hosts: Readonly<Record<string, HostRecap>>, interrupted: boolean): ExitCode {
  if (interrupted) return ExitCode.interrupted;
  const recaps = Object.values(hosts);
  if (recaps.some((r) => r.failed > 0 && !r.unreachable)) return ExitCode.hostFailed;
  if (recaps.some((r) => r.unreachable)) return ExitCode.hostUnreachable;
  return ExitCode.ok;
}

export function exitCodeForError(error: unknown): ExitCode {
  if (error instanceof PlaybookError) return ExitCode.invalidPlaybook;
  if (error instanceof UsageError) return ExitCode.badOptions;
  if (error instanceof HostUnreachable) return ExitCode.hostUnreachable;
  return ExitCode.internal;
}
