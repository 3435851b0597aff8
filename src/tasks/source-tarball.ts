import { createWriteStream } from 'node:fs';
import { mkdir, rename, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileSha256 } from '../file-sha256.js';
import type { Target, TargetSource } from '../playbook/types.js';

// The controller's copy of the target tarball. A url is downloaded once per
// run into a cache keyed by its sha256; either way the file is hashed once and
// every host's build reuses the result.

export class SourceError extends Error {
  override name = 'SourceError';
}

type TarballSource = Exclude<TargetSource, { kind: 'package' }>;

/** The tarball a target is built from; a package target has none (package-build.ts takes it instead). */
function tarballOf(target: Target): TarballSource {
  if (target.source.kind === 'package') {
    throw new SourceError(`target.package ${target.source.name} has no source tarball`);
  }
  return target.source;
}

export function tarballName(target: Target): string {
  const source = tarballOf(target);
  const raw = source.kind === 'path' ? source.path : new URL(source.url).pathname;
  const name = basename(raw);
  return /\.tar\.(gz|xz)$|\.tgz$/.test(name) ? name : `memcached-${target.version}.tar.gz`;
}

function cachePath(target: Target): string {
  const cacheRoot = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(cacheRoot, 'memplay', 'sources', `${target.sha256}-${tarballName(target)}`);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

async function download(url: string, destination: string): Promise<void> {
  const response = await fetch(url);
  if (!response.ok || !response.body) {
    throw new SourceError(`download of ${url} failed: HTTP ${response.status} — check target.source.url`);
  }
  await mkdir(join(destination, '..'), { recursive: true });
  const partial = `${destination}.partial`;
  await pipeline(
    Readable.fromWeb(response.body as import('node:stream/web').ReadableStream),
    createWriteStream(partial),
  );
  await rename(partial, destination);
}

/** Where the tarball is or will be on the controller, without fetching anything. */
export function describeSource(target: Target): string {
  const source = tarballOf(target);
  return source.kind === 'path' ? source.path : source.url;
}

/** The tarball's size on the controller, or null while it is still to be downloaded. */
export async function localTarballSize(target: Target): Promise<number | null> {
  const source = tarballOf(target);
  const path = source.kind === 'path' ? source.path : cachePath(target);
  return stat(path).then(
    (s) => s.size,
    () => null,
  );
}

/** Checks that the source is usable without downloading: for --check. */
export async function checkSourceReadOnly(target: Target): Promise<string> {
  const source = tarballOf(target);
  if (source.kind === 'url') {
    const cached = cachePath(target);
    if (await exists(cached)) return verified(cached, target);
    return `download ${source.url}, `;
  }
  if (!(await exists(source.path))) {
    throw new SourceError(`${source.path} does not exist on the controller — check target.source.path`);
  }
  await verified(source.path, target);
  return '';
}

async function verified(path: string, target: Target): Promise<string> {
  const actual = await fileSha256(path);
  if (actual !== target.sha256) {
    throw new SourceError(
      `sha256 of ${basename(path)} is ${actual}, playbook says ${target.sha256} — check target.source.sha256`,
    );
  }
  return '';
}

export function localTarballOnce(target: Target): () => Promise<string> {
  let pending: Promise<string> | undefined;
  return () => {
    pending ??= (async () => {
      const source = tarballOf(target);
      if (source.kind === 'path') {
        await checkSourceReadOnly(target);
        return source.path;
      }
      const cached = cachePath(target);
      if (!(await exists(cached))) await download(source.url, cached);
      await verified(cached, target);
      return cached;
    })();
    return pending;
  };
}
