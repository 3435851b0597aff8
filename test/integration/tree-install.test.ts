import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildMarker } from '../../src/facts/host-facts.js';
import { stagingPrefix } from '../../src/tasks/build-steps.js';
import type { TaskContext } from '../../src/tasks/task.js';
import { installTree } from '../../src/tasks/tree-install.js';
import { createLocalTransport } from '../../src/transport/local.js';
import { taskContext } from '../support/task-context.js';

// The one command every build ends with, run by a real /bin/sh on real files, in a
// prefix whose name holds a space and a quote.

async function setup(): Promise<{ ctx: TaskContext; prefix: string; version: string; progress: string[] }> {
  const fixture = taskContext();
  const prefix = join(await mkdtemp(join(tmpdir(), 'memplay-install-')), "mem cached's");
  await mkdir(prefix);
  const progress: string[] = [];
  const ctx: TaskContext = {
    ...fixture.ctx,
    host: { ...fixture.ctx.host, memcached: { ...fixture.ctx.host.memcached, prefix } },
    transport: createLocalTransport('host1'),
    progress: (phase) => progress.push(phase),
  };
  return { ctx, prefix, version: ctx.target.version, progress };
}

/** A staging folder holding a tree whose bin/memcached prints `reports`, as a tar or as the tree itself. */
async function staged(
  prefix: string,
  reports: string,
  form: 'tar' | 'tree',
): Promise<{ staging: string; tree: string; sha256: string }> {
  const staging = join(prefix, `${stagingPrefix}test-1234`);
  const source = join(form === 'tar' ? await mkdtemp(join(tmpdir(), 'memplay-tree-')) : staging, 'root');
  await mkdir(join(source, 'bin'), { recursive: true });
  await writeFile(join(source, 'bin', 'memcached'), `#!/bin/sh\necho 'memcached ${reports}'\n`);
  await chmod(join(source, 'bin', 'memcached'), 0o755);
  if (form === 'tree') return { staging, tree: source, sha256: '' };
  await mkdir(staging, { recursive: true });
  execFileSync('tar', ['-C', source, '-cf', join(staging, 'tree.tar'), '.']);
  const sha256 = createHash('sha256')
    .update(await readFile(join(staging, 'tree.tar')))
    .digest('hex');
  return { staging, tree: join(staging, 'root'), sha256 };
}

describe('installing a tree in one command', () => {
  it('a shipped tree: checked, unpacked, marked, renamed into place, staging gone', async () => {
    const { ctx, prefix, version, progress } = await setup();
    const { staging, tree, sha256 } = await staged(prefix, version, 'tar');
    const result = await installTree(ctx, { tree, staging, shipped: { tarName: 'tree.tar', sha256 } });
    expect(result).toEqual({ stagingRemoved: true });
    expect(execFileSync(join(prefix, version, 'bin', 'memcached'), ['-V']).toString()).toBe(
      `memcached ${version}\n`,
    );
    expect((await lstat(join(prefix, version, buildMarker))).isFile()).toBe(true);
    expect(await readdir(prefix)).toEqual([version]);
    expect(progress).toEqual(['verify sha256 of the shipped tree, unpack, check and move into place']);
  });

  it('a tar whose sha256 is not the relayed one: that step fails, nothing is installed, staging gone', async () => {
    const { ctx, prefix } = await setup();
    const { staging, tree } = await staged(prefix, ctx.target.version, 'tar');
    await expect(
      installTree(ctx, { tree, staging, shipped: { tarName: 'tree.tar', sha256: '0'.repeat(64) } }),
    ).rejects.toThrow(/verify sha256 of the shipped tree failed \(exit 1\):/);
    expect(await readdir(prefix)).toEqual([]);
  });

  it('a tree that reports another version: says what -V printed, and leaves the prefix as it was', async () => {
    const { ctx, prefix, version } = await setup();
    const { staging, tree, sha256 } = await staged(prefix, '1.6.18', 'tar');
    await expect(
      installTree(ctx, { tree, staging, shipped: { tarName: 'tree.tar', sha256 } }),
    ).rejects.toThrow(
      `check the new binary failed: bin/memcached -V printed "memcached 1.6.18", not "memcached ${version}"`,
    );
    expect(await readdir(prefix)).toEqual([]);
  });

  it('a compiled tree over a broken folder of that version: the folder is moved aside, a linked marker replaced', async () => {
    const { ctx, prefix, version } = await setup();
    await mkdir(join(prefix, version, 'bin'), { recursive: true });
    await writeFile(join(prefix, version, 'broken'), 'old');
    const { staging, tree } = await staged(prefix, version, 'tree');
    // A tree could carry a link where the marker goes, pointing at a file not memplay's.
    await symlink('/etc/hostname', join(tree, buildMarker));
    expect(await installTree(ctx, { tree, staging })).toEqual({ stagingRemoved: true });
    expect((await lstat(join(prefix, version, buildMarker))).isFile()).toBe(true);
    const entries = await readdir(prefix);
    expect(entries).toHaveLength(2);
    const aside = entries.find((entry) => entry.startsWith(`.memplay-broken-${version}-`));
    expect(await readFile(join(prefix, aside ?? 'none', 'broken'), 'utf8')).toBe('old');
  });
});
