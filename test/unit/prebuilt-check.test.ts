import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validatePlaybookFile } from '../../src/playbook/index.js';
import { SHA256 } from '../support/playbook-helpers.js';

// target.prebuilt's tree is pinned like the source tarball: when it is on this
// machine, `validate` (and apply, before any host is contacted) checks its sha256.

let dir: string;
let tree: string;
let treeSha: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memplay-prebuilt-'));
  tree = join(dir, 'memcached-1.6.38-tree.tar.gz');
  const bytes = Buffer.from('a built tree, as far as validate can tell\n');
  await writeFile(tree, bytes);
  treeSha = createHash('sha256').update(bytes).digest('hex');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function playbookWith(prebuilt: string): Promise<string> {
  const file = join(dir, 'fleet.yml');
  await writeFile(
    file,
    `name: prebuilt
target:
  version: "1.6.38"
  source:
    url: https://memcached.org/files/memcached-1.6.38.tar.gz
    sha256: ${SHA256}
  prebuilt:
${prebuilt}
hosts:
  cache1: { address: 10.0.0.1 }
`,
  );
  return file;
}

describe('target.prebuilt checked on the controller', () => {
  it('the pinned tree passes; another checksum is named at target.prebuilt.sha256 with the one found', async () => {
    expect(
      await validatePlaybookFile(await playbookWith(`    file: ${tree}\n    sha256: ${treeSha}`)),
    ).toEqual([]);
    const file = await playbookWith(`    file: ${tree}\n    sha256: ${'f'.repeat(64)}`);
    expect(await validatePlaybookFile(file)).toEqual([
      {
        file,
        line: 9,
        col: 13,
        message: `target.prebuilt.sha256: ${tree} has sha256 ${treeSha}, not ${'f'.repeat(64)} — check that this is the tree you meant (sha256sum ${tree}) and correct target.prebuilt.sha256 or target.prebuilt.file`,
      },
    ]);
  });

  it('a tree that is not on this machine is left to apply (it may live only where apply runs)', async () => {
    const file = await playbookWith(`    file: ${join(dir, 'elsewhere.tar.gz')}\n    sha256: ${treeSha}`);
    expect(await validatePlaybookFile(file)).toEqual([]);
  });
});
