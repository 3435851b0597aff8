import { HostUnreachable, PlaybookError, UsageError } from '../errors.js';

/**
 * What the user reads when a command stops on an error. Expected failures (a bad
 * playbook, bad options, an unreachable host) carry their own where and next step and
 * never a stack trace, even with -v. Only an internal error (a bug) has a stack worth
 * reading, and only -v prints it.
 */
export function errorReport(error: unknown, verbose: boolean): string {
  if (error instanceof PlaybookError) {
    const file = error.diagnostics[0]?.file;
    return (
      `${error.message}\nnothing was run: fix what is listed above and run the command again` +
      `${file ? ` (memplay validate ${file} rechecks the playbook without contacting any host)` : ''}\n`
    );
  }
  if (error instanceof UsageError || error instanceof HostUnreachable) return `memplay: ${error.message}\n`;
  const message = error instanceof Error ? error.message : String(error);
  if (verbose && error instanceof Error && error.stack) return `memplay: internal error: ${error.stack}\n`;
  return (
    `memplay: internal error: ${message}\n` +
    'this is a bug in memplay: run the command again with -v for the stack trace, and report it\n'
  );
}
