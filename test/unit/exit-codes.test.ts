import { describe, expect, it } from 'vitest';
import { ExitCode, exitCodeForError, exitCodeForRecap } from '../../src/cli/exit-codes.js';
import { HostUnreachable, PlaybookError, TaskFailed, UsageError } from '../../src/errors.js';

const fine = { ok: 4, changed: 2, failed: 0, skipped: 0, unreachable: false };
const failed = { ok: 1, changed: 0, failed: 1, skipped: 2, unreachable: false };
const unreachable = { ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: true };

describe('exit codes (Ansible-compatible)', () => {
  it('0 when every host is well', () => expect(exitCodeForRecap({ a: fine, b: fine }, false)).toBe(0));
  it('2 when a host failed, even if another was unreachable', () => {
    expect(exitCodeForRecap({ a: fine, b: failed }, false)).toBe(2);
    expect(exitCodeForRecap({ a: unreachable, b: failed }, false)).toBe(2);
  });
  it('3 when a host was unreachable', () =>
    expect(exitCodeForRecap({ a: fine, b: unreachable }, false)).toBe(3));
  it('99 when interrupted', () => expect(exitCodeForRecap({ a: fine }, true)).toBe(99));
  it('maps typed errors', () => {
    expect(exitCodeForError(new PlaybookError([{ file: 'f', line: 1, col: 1, message: 'x' }]))).toBe(4);
    expect(exitCodeForError(new UsageError('x'))).toBe(5);
    expect(exitCodeForError(new HostUnreachable('h', 'connect', 'x'))).toBe(3);
    expect(exitCodeForError(new TaskFailed('h', 'build', 'x'))).toBe(ExitCode.internal);
    expect(exitCodeForError(new Error('bug'))).toBe(250);
  });
});
