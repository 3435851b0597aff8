import { errorMessage, HostUnreachable, PlaybookError, UsageError } from '../errors.js';
import type { ErrorEvent, ErrorKind } from '../report/events.js';
import { ExitCode, exitCodeForError } from './exit-codes.js';

/**
 * What the user reads when a command stops on an error. Expected failures (a bad
 * playbook, bad options, an unreachable host) carry their own where and next step and
 * never a stack trace, even with -v. Only an internal error (a bug) has a stack worth
 * reading, and only -v prints it — on a command that has -v (`hasVerbose`). A command
 * without one (validate, schema, backups) prints it at once: telling the user to rerun
 * with an option the command then rejects sent them in a circle.
 */
export function errorReport(error: unknown, verbose: boolean, hasVerbose = true): string {
  if (error instanceof PlaybookError) {
    const file = error.diagnostics[0]?.file;
    return (
      `${error.message}\nnothing was run: fix what is listed above and run the command again` +
      `${file ? ` (memplay validate ${file} rechecks the playbook without contacting any host)` : ''}\n`
    );
  }
  if (error instanceof UsageError || error instanceof HostUnreachable) return `memplay: ${error.message}\n`;
  const message = errorMessage(error);
  if (verbose && error instanceof Error && error.stack) return `memplay: internal error: ${error.stack}\n`;
  if (!hasVerbose) {
    const trace = error instanceof Error && error.stack ? error.stack : message;
    return `memplay: internal error: ${trace}\nthis is a bug in memplay: report it with the command line and the trace above\n`;
  }
  return (
    `memplay: internal error: ${message}\n` +
    'this is a bug in memplay: run the command again with -v for the stack trace, and report it\n'
  );
}

function errorKind(error: unknown): ErrorKind {
  if (error instanceof PlaybookError) return 'playbook';
  if (error instanceof UsageError) return 'usage';
  if (error instanceof HostUnreachable) return 'unreachable';
  return 'internal';
}

/** The same stop for programs (--output json): what kind of mistake, where, and the exit code. */
export function errorEvent(error: unknown): ErrorEvent {
  return {
    event: 'error',
    kind: errorKind(error),
    message: errorMessage(error),
    ...(error instanceof PlaybookError ? { diagnostics: error.diagnostics } : {}),
    exit_code: exitCodeForError(error),
  };
}

/** A command line the option parser refused (unknown option, missing argument), for programs. */
export function usageErrorEvent(message: string): ErrorEvent {
  return {
    event: 'error',
    kind: 'usage',
    message: message.replace(/^error: /, ''),
    exit_code: ExitCode.badOptions,
  };
}
