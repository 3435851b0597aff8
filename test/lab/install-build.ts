import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildMarker } from '../../src/facts/host-facts.js';
import { cachedBuild } from './build.js';
import { run } from './exec.js';
import type { LabHost } from './layout.js';
import { cachedOldBuild, oldVersions } from './old-build.js';

/**
 * Puts a build of `version` under the host's prefix, as memplay's build task
 * would leave it, so a test or the bench skips a compile. The build comes from
 * the lab's build cache: compiled once per machine, copied after.
 */
export async function ensureBuild(host: LabHost, version: string): Promise<'present' | 'copied'> {
  const build = oldVersions.includes(version) ? await cachedOldBuild(version) : await cachedBuild(version);
  if (await holdsBuild(join(host.prefix, version), build)) return 'present';
  await copyBuildInto(host, version, build);
  return 'copied';
}

/**
 * Whether `<installDir>/bin/memcached` is the cached build's binary, byte for
 * byte. Reporting the version is not enough: an earlier test may have left a
 * same-version build with other flags there (the distro package's, or a TLS
 * build, whose eleven ssl_* settings then failed the settings gate of a test
 * that ran after it in a fresh clone's order).
 */
export async function holdsBuild(installDir: string, build: string): Promise<boolean> {
  const [installed, cached] = await Promise.all([
    readFile(join(installDir, 'bin', 'memcached')).catch(() => undefined),
    readFile(join(build, 'bin', 'memcached')),
  ]);
  return installed?.equals(cached) ?? false;
}

/** Copies a cached build to `<prefix>/<version>`, owned by the host's user, renamed into place whole. */
export async function copyBuildInto(host: LabHost, version: string, build: string): Promise<void> {
  const installDir = join(host.prefix, version);
  const copy = join(host.prefix, `.lab-copy-${version}`);
  await rm(copy, { recursive: true, force: true });
  await run('cp', ['-a', build, copy]);
  // Marked as memplay's build task marks what it installs, so pruning treats it alike.
  await writeFile(join(copy, buildMarker), '');
  await run('chown', ['-R', `${host.user}:${host.user}`, copy]);
  await rm(installDir, { recursive: true, force: true });
  await rename(copy, installDir);
}
