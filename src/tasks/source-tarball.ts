import { createWriteStream } from 'node:fs';
import { mkdir, rename, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileSha256 } from '../file-sha256.js';
import type { Target } from '../playbook/types.js';

// The controller's copy of the target tarball. A url is downloaded once per
// run into a cache keyed by its sha256; either way the file is hashed once and
// every host's build reuses the result.

export class SourceError extends Error {
  override name = 'SourceError';
}

export function tarballName(target: Target): string {
  const raw = target.source.kind === 'path' ? target.source.path : new URL(target.source.url).pathname;
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
  return target.source.kind === 'path' ? target.source.path : target.source.url;
}

/** The tarball's size on the controller, or null while it is still to be downloaded. */
export async function localTarballSize(target: Target): Promise<number | null> {
  const path = target.source.kind === 'path' ? target.source.path : cachePath(target);
  return stat(path).then(
    (s) => s.size,
    () => null,
  );
}

/** Checks that the source is usable without downloading: for --check. */
export async function checkSourceReadOnly(target: Target): Promise<string> {
  if (target.source.kind === 'url') {
    const cached = cachePath(target);
    if (await exists(cached)) return verified(cached, target);
    return `download ${target.source.url}, `;
  }
  if (!(await exists(target.source.path))) {
    throw new SourceError(
      `${target.source.path} does not exist on the controller — check target.source.path`,
    );
  }
  await verified(target.source.path, target);
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
      if (target.source.kind === 'path') {
        await checkSourceReadOnly(target);
        return target.source.path;
      }
      const cached = cachePath(target);
      if (!(await exists(cached))) await download(target.source.url, cached);
      await verified(cached, target);
      return cached;
    })();
    return pending;
  };
}
