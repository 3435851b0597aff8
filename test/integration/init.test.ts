import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runMemplay } from '../e2e/memplay-cli.js';

const sha = '074076ab3e889e16e763c6a3e5cadacc6696979dbb8c473bbf871d498b19b1a0';

describe('memplay init on the command line', () => {
  it('writes the file, exits 0, and refuses to overwrite it without --force (exit 5)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memplay-init-cli-'));
    const file = join(dir, 'fleet.yml');
    const args = ['init', file, '--hosts', 'cache1,cache2', '--version', '1.6.38', '--sha256', sha];
    const first = await runMemplay(args);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`${file}: written and valid`);
    const written = await readFile(file, 'utf8');
    expect((await runMemplay(['validate', file])).code).toBe(0);

    const again = await runMemplay([...args, '--serial', '2']);
    expect(again.code).toBe(5);
    expect(again.stderr).toContain(
      `${file} already exists: choose another path, or add --force to overwrite it`,
    );
    expect(await readFile(file, 'utf8')).toBe(written);

    const forced = await runMemplay([...args, '--serial', '2', '--force']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(parse(await readFile(file, 'utf8')).strategy.serial).toBe(2);
  });

  it('without a terminal and without --hosts: exit 5 naming the flag, no file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memplay-init-cli-'));
    const file = join(dir, 'fleet.yml');
    const run = await runMemplay(['init', file, '--version', '1.6.38', '--sha256', sha]);
    expect(run.code).toBe(5);
    expect(run.stderr).toContain('memplay init needs --hosts');
    expect(await readdir(dir)).toEqual([]);
  });
});
