import { describe, expect, it } from 'vitest';
import { checkJsonLines } from '../e2e/event-contract.js';
import { runMemplay } from '../e2e/memplay-cli.js';

// schemas/events.schema.json against the lines the built CLI prints on its own: the
// engine's events are checked in test/unit/events-schema.test.ts.

// The built CLI (npm run build first), as a program calls it: mistakes caught before
// any connection are JSON on stdout, with the exit code in them.
describe('--output json before any host is contacted', () => {
  it('validate prints one validate event: valid, or every diagnostic', async () => {
    const good = await runMemplay(['validate', 'examples/lab-upgrade.yml', '--output', 'json']);
    expect(good.code).toBe(0);
    expect(checkJsonLines(good.stdout)).toEqual([
      expect.objectContaining({ event: 'validate', valid: true, diagnostics: [], exit_code: 0 }),
    ]);
    const bad = await runMemplay(['validate', 'test/fixtures/bad-playbooks/tab-indent.yml', '-o', 'json']);
    expect(bad.code).toBe(4);
    const [event] = checkJsonLines(bad.stdout);
    expect(event).toMatchObject({
      event: 'validate',
      valid: false,
      exit_code: 4,
      diagnostics: [{ file: 'test/fixtures/bad-playbooks/tab-indent.yml', line: 10, col: 1 }],
    });
  });

  it('an invalid playbook, a --limit that matches nothing and an unknown option: an error event each, stderr as before', async () => {
    const cases = [
      {
        args: ['apply', 'test/fixtures/bad-playbooks/tab-indent.yml', '-o', 'json'],
        kind: 'playbook',
        code: 4,
      },
      {
        args: ['apply', 'examples/lab-upgrade.yml', '-o', 'json', '--limit', 'nosuch'],
        kind: 'usage',
        code: 5,
      },
      {
        args: ['rollback', 'examples/lab-upgrade.yml', '--output=json', '--frobnicate'],
        kind: 'usage',
        code: 5,
      },
      { args: ['facts', 'examples/lab-upgrade.yml', '-o', 'json', '--forks', '0'], kind: 'usage', code: 5 },
    ];
    for (const { args, kind, code } of cases) {
      const run = await runMemplay(args);
      expect(run.code, args.join(' ')).toBe(code);
      expect(run.stderr, args.join(' ')).not.toBe('');
      const events = checkJsonLines(run.stdout);
      expect(events, args.join(' ')).toEqual([
        expect.objectContaining({ event: 'error', kind, exit_code: code }),
      ]);
    }
    const invalid = await runMemplay(['apply', 'test/fixtures/bad-playbooks/tab-indent.yml', '-o', 'json']);
    expect(checkJsonLines(invalid.stdout)[0]?.diagnostics).toEqual([
      expect.objectContaining({ file: 'test/fixtures/bad-playbooks/tab-indent.yml', line: 10, col: 1 }),
    ]);
  });

  it('--list-hosts and backups, which contact no host, print lines that follow the schema', async () => {
    const listed = await runMemplay(['apply', 'examples/lab-upgrade.yml', '--list-hosts', '-o', 'json']);
    expect(listed.code).toBe(0);
    expect(checkJsonLines(listed.stdout)).toEqual([
      expect.objectContaining({ event: 'list-hosts', hosts: ['host1'] }),
    ]);
    const backups = await runMemplay(['backups', 'examples/lab-upgrade.yml', '-o', 'json']);
    expect(backups.code).toBe(0);
    expect(checkJsonLines(backups.stdout)).toEqual([
      expect.objectContaining({ event: 'backups', host: 'host1' }),
    ]);
  });

  it('one --output vocabulary: facts and validate take pretty, plain and json, facts still takes table', async () => {
    const plain = await runMemplay(['validate', 'examples/lab-upgrade.yml', '-o', 'pretty']);
    expect(plain.stdout).toBe('examples/lab-upgrade.yml: valid\n');
    for (const mode of ['pretty', 'plain', 'table', 'json']) {
      // A --limit that matches nothing stops it before any host: only the option's value is on trial here.
      const run = await runMemplay(['facts', 'examples/lab-upgrade.yml', '-o', mode, '--limit', 'nosuch']);
      expect(run.stderr, mode).toContain('--limit "nosuch" matches no host');
      expect(run.stderr, mode).not.toContain('--output');
    }
    const wrong = await runMemplay(['validate', 'examples/lab-upgrade.yml', '-o', 'table']);
    expect(wrong.code).toBe(5);
    expect(wrong.stderr).toContain('--output must be pretty, plain or json, got "table"');
  });
});
