import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cachedBuild, reportsVersion } from '../../test/lab/build.js';
import { run, waitFor } from '../../test/lab/exec.js';
import { memcachedPid, stopMemcached } from '../../test/lab/host.js';
import type { LabHost } from '../../test/lab/index.js';
import { memcachedVersion } from '../../test/lab/index.js';

// What the bench does to a lab host beyond what test/lab/ offers.

/**
 * Puts a build of `version` under the host's prefix, as memplay's build task
 * would leave it, so the upgrade window is timed without a compile. The build
 * comes from the lab's build cache: compiled once per machine, copied after.
 */
export async function ensureBuild(host: LabHost, version: string): Promise<'present' | 'copied'> {
  const installDir = join(host.prefix, version);
  if (await reportsVersion(installDir, version)) return 'present';
  const build = await cachedBuild(version);
  const copy = join(host.prefix, `.bench-copy-${version}`);
  await rm(copy, { recursive: true, force: true });
  await run('cp', ['-a', build, copy]);
  await run('chown', ['-R', `${host.user}:${host.user}`, copy]);
  await rm(installDir, { recursive: true, force: true });
  await rename(copy, installDir);
  return 'copied';
}

/** Restarts the host's memcached (stopped by its pidfile) from `current` with `-m memoryMb`. */
export async function restartWithMemory(host: LabHost, memoryMb: number): Promise<void> {
  await stopMemcached(host);
  const binary = join(host.prefix, 'current', 'bin', 'memcached');
  const args = ['-d', '-P', host.pidfile, '-p', String(host.memcachedPort), '-l', '127.0.0.1'];
  await run('runuser', ['-u', host.user, '--', binary, ...args, '-m', String(memoryMb)], { cwd: host.home });
  await waitFor(
    `memcached of ${host.name} to answer on 127.0.0.1:${host.memcachedPort}`,
    async () => (await memcachedPid(host)) !== null && (await memcachedVersion(host.memcachedPort)) !== null,
  );
}
