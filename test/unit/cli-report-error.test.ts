import { describe, expect, it } from 'vitest';
import { errorReport } from '../../src/cli/report-error.js';
import { HostUnreachable, PlaybookError, UsageError } from '../../src/errors.js';

// What the user reads when a command stops: a stack trace only for a bug, and only with -v.
describe('errorReport', () => {
  const bug = new TypeError("Cannot read properties of undefined (reading 'port')");

  it('an internal error without -v: its message, that it is a bug, and how to get the stack', () => {
    const report = errorReport(bug, false);
    expect(report).toBe(
      "memplay: internal error: Cannot read properties of undefined (reading 'port')\n" +
        'this is a bug in memplay: run the command again with -v for the stack trace, and report it\n',
    );
    expect(report).not.toMatch(/^\s+at /m);
  });

  it('an internal error of a command without -v (validate): the trace at once, never "run again with -v"', () => {
    const report = errorReport(bug, false, false);
    expect(report).toMatch(/^memplay: internal error: TypeError: Cannot read properties/);
    expect(report).toMatch(/^\s+at /m);
    expect(report).toMatch(/report it with the command line and the trace above\n$/);
    expect(report).not.toContain('-v');
  });

  it('an internal error with -v: the stack trace', () => {
    const report = errorReport(bug, true);
    expect(report).toMatch(/^memplay: internal error: TypeError: Cannot read properties/);
    expect(report).toMatch(/^\s+at /m);
  });

  it('expected failures print no stack trace, with -v or without', () => {
    const playbook = new PlaybookError([
      { file: 'fleet.yml', line: 3, col: 12, message: 'target.version: bad' },
    ]);
    for (const verbose of [false, true]) {
      expect(errorReport(playbook, verbose)).toBe(
        'fleet.yml:3:12: target.version: bad\n' +
          'nothing was run: fix what is listed above and run the command again ' +
          '(memplay validate fleet.yml rechecks the playbook without contacting any host)\n',
      );
      expect(errorReport(new UsageError('--forks must be …'), verbose)).toBe('memplay: --forks must be …\n');
      expect(errorReport(new HostUnreachable('host1', 'auth', 'no key'), verbose)).toBe(
        'memplay: host1: no key\n',
      );
    }
  });
});
