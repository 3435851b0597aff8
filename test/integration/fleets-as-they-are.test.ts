import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { commandLine } from '../../src/tasks/command.js';

describe('tasks: command steps, run by a real /bin/sh', () => {
  it('a fact reaches the command as one environment value, whatever it holds, and nothing else runs', () => {
    const nasty = `1.6.38'; touch /tmp/memplay-pwned; echo '$(id) \`id\` "x"`;
    const command = commandLine({ MEMPLAY_HOST: nasty, MEMPLAY_PORT: '11211' }, [
      'sh',
      '-c',
      'printf "%s|%s|%s" "$MEMPLAY_HOST" "$MEMPLAY_PORT" "$0"',
      '-- $(id)',
    ]);
    expect(command.text.startsWith('env -- ')).toBe(true);
    const output = execFileSync('/bin/sh', ['-c', command.text], { encoding: 'utf8' });
    expect(output).toBe(`${nasty}|11211|-- $(id)`);
  });
});
