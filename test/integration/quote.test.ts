import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loginShellLine, sh } from '../../src/transport/quote.js';

const scratch = mkdtempSync(join(tmpdir(), 'memplay-quote-'));
const sentinel = join(scratch, 'pwned');
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// Every string here must reach the command as exactly one argument, unchanged.
const nasty: string[] = [
  '',
  ' ',
  'plain',
  'two words',
  '  leading and trailing  ',
  "it's",
  "''",
  "'",
  '"double"',
  `mixed 'single' and "double"`,
  `$(touch ${sentinel})`,
  `\`touch ${sentinel}\``,
  `; touch ${sentinel}`,
  `&& touch ${sentinel} #`,
  `| touch ${sentinel}`,
  `> ${sentinel}`,
  '$HOME',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal text is the point
  '${HOME}',
  '$0 $1 $@ $* $# $?',
  '*',
  '?',
  '[abc]',
  '{a,b}',
  '~',
  '~root/x',
  'line1\nline2',
  '\n',
  'trailing newline\n',
  '\ttab',
  '\\',
  '\\n',
  "\\'",
  '-n',
  '-e',
  '--',
  '#not a comment',
  '!',
  '!!',
  '%s %d',
  'a=b',
  'é ünïcode ✓ 中文',
  '\u0007bell\u001b[31mred',
];

/** Runs `printf '%s\0' <args>` (NUL-separated) through a real /bin/sh and returns the arguments it saw. */
function argsSeenByShell(command: string): string[] {
  const out = execFileSync('/bin/sh', ['-c', command], { encoding: 'utf8' });
  const parts = out.split('\0');
  parts.pop();
  return parts;
}

describe('sh quoting, read back by a real /bin/sh', () => {
  it('round-trips every nasty string through a real /bin/sh as one argument', () => {
    for (const value of nasty) {
      expect(argsSeenByShell(sh`printf '%s\\0' ${value}`.text), JSON.stringify(value)).toEqual([value]);
    }
    expect(existsSync(sentinel), 'a quoted value was executed').toBe(false);
  });

  it('round-trips the whole corpus as one array, in order', () => {
    expect(argsSeenByShell(sh`printf '%s\\0' ${nasty}`.text)).toEqual(nasty);
    expect(existsSync(sentinel)).toBe(false);
  });

  it('survives a second level of shell: a command quoted as the argument of sh -c', () => {
    const inner = sh`printf '%s\\0' ${nasty}`;
    const outer = sh`sh -c ${inner.text}`;
    expect(argsSeenByShell(outer.text)).toEqual(nasty);
    expect(argsSeenByShell(sh`${inner} && printf '%s\\0' ${'after'}`.text)).toEqual([...nasty, 'after']);
    expect(existsSync(sentinel)).toBe(false);
  });
});

// Issue 17 item 8: sshd hands every command to the user's login shell, which may be fish,
// where `\'` is an escape inside single quotes. loginShellLine must reach /bin/sh intact
// whichever shell reads it first, as `$SHELL -c <line>` (what sshd runs).
describe('the line an ssh exec carries, read by each login shell', () => {
  const loginShells = ['/bin/sh', '/bin/bash', '/usr/bin/fish'];

  it.each(loginShells)('%s -c passes every nasty string to /bin/sh as one argument', (shell) => {
    const command = sh`printf '%s\\0' ${nasty}`;
    const out = execFileSync(shell, ['-c', loginShellLine(command)], { encoding: 'utf8' });
    const parts = out.split('\0');
    parts.pop();
    expect(parts).toEqual(nasty);
    expect(existsSync(sentinel), 'a quoted value was executed').toBe(false);
  });

  it.each(loginShells)('%s -c runs the command under /bin/sh, not itself', (shell) => {
    // fish has no `$(…)`-free POSIX parameter expansion like ${0##*/}: only sh prints "sh".
    const out = execFileSync(
      shell,
      ['-c', loginShellLine(sh`echo "\${0##*/}" && x=1 && test "$x" = 1 && echo posix`)],
      {
        encoding: 'utf8',
      },
    );
    expect(out).toBe('sh\nposix\n');
  });

  it('the quoting the sh template uses alone is misread by fish: the reason for the wrapper', () => {
    const value = "it's \\'x";
    const command = sh`printf '%s\\0' ${value}`;
    const fish = spawnSync('/usr/bin/fish', ['-c', command.text], { encoding: 'utf8' });
    // fish either refuses the line (unbalanced quotes) or prints something else.
    expect(fish.status !== 0 || fish.stdout !== `${value}\0`).toBe(true);
    const wrapped = spawnSync('/usr/bin/fish', ['-c', loginShellLine(command)], { encoding: 'utf8' });
    expect(wrapped.stdout).toBe(`${value}\0`);
  });
});
