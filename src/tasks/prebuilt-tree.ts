import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { fileSha256 } from '../file-sha256.js';
import type { PrebuiltTree } from '../playbook/types.js';
import type { ShippableBuild } from './build-sharing.js';
import { SourceError } from './source-tarball.js';

// target.prebuilt: a tarball of an installed tree, made elsewhere (CI). The
// controller hashes the bytes it will relay before anything is shipped; each
// host checks the same sha256 again and runs the tree's bin/memcached -V.

/** `prebuilt memcached-1.6.38-linux-x86_64.tar.gz`: how reports name the tree's origin. */
export function prebuiltLabel(tree: Pick<PrebuiltTree, 'file'>): string {
  return `prebuilt ${basename(tree.file)}`;
}

/** The tree as it would be shipped, checked on the controller: for the plan and, once per run, for apply. */
export async function checkPrebuilt(tree: PrebuiltTree): Promise<ShippableBuild> {
  const info = await stat(tree.file).catch(() => undefined);
  if (!info?.isFile()) {
    throw new SourceError(`${tree.file} is not a file on the controller — check target.prebuilt.file`);
  }
  const actual = await fileSha256(tree.file);
  if (actual !== tree.sha256) {
    throw new SourceError(
      `sha256 of ${basename(tree.file)} is ${actual}, playbook says ${tree.sha256} — check target.prebuilt.sha256`,
    );
  }
  return { builder: prebuiltLabel(tree), path: tree.file, sha256: actual, bytes: info.size };
}

/** checkPrebuilt once per run: each host checks the bytes it receives against this hash. */
export function prebuiltOnce(tree: PrebuiltTree): () => Promise<ShippableBuild> {
  let pending: Promise<ShippableBuild> | undefined;
  return () => {
    pending ??= checkPrebuilt(tree);
    return pending;
  };
}
