import { stat } from 'node:fs/promises';
import type { Diagnostic } from '../errors.js';
import { fileSha256 } from '../file-sha256.js';
import type { PlaybookSource } from './source.js';
import type { Playbook } from './types.js';

// A tarball on the controller (and target.prebuilt's tree) is checked against its sha256 before
// any host is contacted: a wrong checksum used to pass `validate` and --check
// and fail every host's build after connecting to all of them. A URL source is
// checked where it is downloaded (once per run, before the first build).

/**
 * The sha256 mismatch of a `target.source.path` tarball that is on this machine;
 * empty for a url, a good file or none at all (build reports a missing file, and
 * a re-run whose hosts all have the build needs none).
 */
export async function sourceTarballProblems(
  source: PlaybookSource,
  playbook: Playbook,
): Promise<Diagnostic[]> {
  return [...(await sourcePathProblems(source, playbook)), ...(await prebuiltProblems(source, playbook))];
}

/** target.prebuilt's tree, checked as the source tarball is: when it is here, it is the one pinned. */
async function prebuiltProblems(source: PlaybookSource, playbook: Playbook): Promise<Diagnostic[]> {
  const tree = playbook.target.prebuilt;
  if (!tree) return [];
  const info = await stat(tree.file).catch(() => undefined);
  if (info === undefined) return [];
  if (!info.isFile()) {
    return [
      source.diagnostic(
        ['target', 'prebuilt', 'file'],
        `target.prebuilt.file: ${tree.file} is not a regular file; give the tarball of the built tree`,
      ),
    ];
  }
  const actual = await fileSha256(tree.file);
  if (actual === tree.sha256) return [];
  return [
    source.diagnostic(
      ['target', 'prebuilt', 'sha256'],
      `target.prebuilt.sha256: ${tree.file} has sha256 ${actual}, not ${tree.sha256} — check that this is the tree ` +
        `you meant (sha256sum ${tree.file}) and correct target.prebuilt.sha256 or target.prebuilt.file`,
    ),
  ];
}

async function sourcePathProblems(source: PlaybookSource, playbook: Playbook): Promise<Diagnostic[]> {
  const { target } = playbook;
  if (target.source.kind !== 'path') return [];
  const path = target.source.path;
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) return [];
  if (!info.isFile()) {
    return [
      source.diagnostic(
        ['target', 'source', 'path'],
        `target.source.path: ${path} is not a regular file; give the memcached source tarball's path`,
      ),
    ];
  }
  const actual = await fileSha256(path);
  if (actual === target.sha256) return [];
  return [
    source.diagnostic(
      ['target', 'source', 'sha256'],
      `target.source.sha256: ${path} has sha256 ${actual}, not ${target.sha256} — check that this is the tarball ` +
        `you meant (sha256sum ${path}) and correct target.source.sha256 or target.source.path`,
    ),
  ];
}
