import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMemplay } from '../e2e/memplay-cli.js';

// The built CLI, spawned as a user runs it; no host is involved.
describe('memplay CLI without a fleet', () => {
  it('--version prints the package version and exits 0', async () => {
    const run = await runMemplay(['--version']);
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('--help lists the subcommands', async () => {
    const run = await runMemplay(['--help']);
    expect(run.code).toBe(0);
    for (const command of ['apply', 'validate', 'schema']) expect(run.stdout).toContain(command);
  });

  it('apply, backup and restore each take --accept-new-host-keys; validate does not', async () => {
    for (const command of ['apply', 'backup', 'restore']) {
      const help = await runMemplay([command, '--help']);
      expect(help.stdout, command).toContain('--accept-new-host-keys');
    }
    const validate = await runMemplay(['validate', 'examples/lab-upgrade.yml', '--accept-new-host-keys']);
    expect(validate.code).toBe(5);
  });

  it('an unknown option exits 5', async () => {
    const run = await runMemplay(['apply', 'x.yml', '--frobnicate']);
    expect(run.code).toBe(5);
    expect(run.stderr).toContain('--frobnicate');
  });

  it('--forks 0 exits 5 with what to do', async () => {
    const run = await runMemplay(['apply', 'examples/lab-upgrade.yml', '--forks', '0']);
    expect(run.code).toBe(5);
    expect(run.stderr).toContain('--forks must be a whole number from 1 to 10000, got "0"');
  });

  it('validate on a broken playbook exits 4 with FILE:LINE:COL for each problem, and apply refuses it the same way', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memplay-cli-'));
    const file = join(dir, 'fleet.yml');
    await writeFile(
      file,
      [
        'name: broken',
        'target:',
        '  version: "1.6"',
        '  source:',
        '    path: /tmp/x.tar.xz',
        '    sha256: 074076ab3e889e16e763c6a3e5cadacc6696979dbb8c473bbf871d498b19b1a0',
        'hosts:',
        '  host1:',
        '    address: 127.0.0.1',
        '    memcached: { prefix: /opt/m, prot: 1 }',
        '',
      ].join('\n'),
    );
    const validate = await runMemplay(['validate', file]);
    expect(validate.code).toBe(4);
    expect(validate.stderr).toMatch(new RegExp(`^${file}:3:12: `, 'm'));
    expect(validate.stderr).toMatch(new RegExp(`^${file}:10:34: `, 'm'));
    const apply = await runMemplay(['apply', file]);
    expect(apply.code).toBe(4);
    expect(apply.stderr).toContain('nothing was run');
  });

  it('schema prints the JSON Schema', async () => {
    const run = await runMemplay(['schema']);
    expect(run.code).toBe(0);
    const schema = JSON.parse(run.stdout) as { properties: Record<string, unknown> };
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['name', 'target', 'hosts', 'strategy']),
    );
  });
});
