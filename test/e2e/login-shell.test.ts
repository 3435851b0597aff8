import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseDocument } from 'yaml';
import {
  ensureBuild,
  type Lab,
  loginShellOf,
  memcachedVersion,
  resetHost,
  setLoginShell,
  writeFleetPlaybook,
} from '../lab/index.js';
import { compareDigests, digestItems, generateItems, loopbackConnection } from '../lab/items/generator.js';
import { recapOf, runMemplay, taskEvents } from './memplay-cli.js';

// Issue 17 item 8: sshd runs every command through the user's login shell, and memplay's
// quoting is POSIX sh's. Under fish, `'\''` inside single quotes is an escape, so every
// command with a quoted value reached the host mangled. memplay now runs each one as
// `exec /bin/sh -c '…'`, quoted so fish reads it as sh does (src/transport/quote.ts).
// Worse than a failure: fish 3.6 exits 0 on a line whose quotes it cannot balance, so the
// command silently did not run.

const lab = inject('lab') as Lab;
const host1 = () => lab.hosts[0]!;
const fish = '/usr/bin/fish';
// Reaches the host's shell as one argument: a single quote, backslashes, `\'`, `$`, a glob.
const awkward = `it's a \\ path \\' with "quotes" $HOME *`;

describe('a lab host whose login shell is fish', () => {
  beforeAll(async () => {
    await resetHost(lab, 1);
    await ensureBuild(host1(), '1.6.38');
    await setLoginShell(host1(), fish);
  });
  afterAll(async () => {
    await setLoginShell(host1(), '/bin/bash');
    await resetHost(lab, 1);
  });

  it('apply upgrades it to 1.6.38 with every item exact, and a command step gets an argument full of quotes and backslashes as written', async () => {
    expect(await loginShellOf(host1())).toBe(fish);
    const port = host1().memcachedPort;
    const set = await generateItems(loopbackConnection(port), {
      seed: 17,
      count: 5_000,
      totalBytes: 8 * 1024 * 1024,
    });
    expect(set.count).toBe(5_000);
    const before = await digestItems(loopbackConnection(port));

    const base = await writeFleetPlaybook(lab, { hosts: [1] });
    const document = parseDocument(await readFile(base, 'utf8'));
    const recorded = join(host1().home, 'login-shell-argv');
    // fish exits 0 on a line it cannot parse: a step it never ran must not find an old file.
    await rm(recorded, { force: true });
    document.set('tasks', [
      'version_check',
      'build',
      'backup',
      'swap',
      'restore',
      'verify',
      { command: 'record-argv', argv: ['/bin/sh', '-c', 'printf "%s" "$1" > "$2"', 'sh', awkward, recorded] },
    ]);
    const playbook = base.replace(/\.yml$/, '-fish.yml');
    await writeFile(playbook, document.toString());

    const run = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(recapOf(run).host1).toMatchObject({ failed: 0 });
    expect(await memcachedVersion(port)).toBe('1.6.38');
    expect(compareDigests(before, await digestItems(loopbackConnection(port))), 'host1 items').toEqual([]);
    expect(taskEvents(run).find((t) => t.task === 'restore')?.status).toBe('changed');
    expect(await readFile(recorded, 'utf8')).toBe(awkward);
  });
});
