import { readlink, rename, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { run, waitFor } from './exec.js';
import { memcachedPid, stopMemcached } from './host.js';
import { ensureBuild } from './install-build.js';
import type { LabHost } from './layout.js';
import { memcachedVersion } from './memcached-port.js';

// A lab host restarted on a memory file (`-e`), as a warm restart needs: the
// baseline instance the lab starts has none. The file lives on tmpfs, named
// after the host's user so parallel labs never share one.

export function memoryFilePath(host: LabHost): string {
  return `/dev/shm/${host.user}-memcached.mem`;
}

/** `-l 127.0.0.1 -m <megabytes> -e <file>`: the lab's arguments with a memory file. */
export function memoryFileArgs(host: LabHost, megabytes = 64): string[] {
  return ['-l', '127.0.0.1', '-m', String(megabytes), '-e', memoryFilePath(host)];
}

/** Stops the host's memcached, points `current` at `version` and starts it with `args`, as the host's user. */
/** `answersOn`: the address to wait on when `args` bind memcached elsewhere than 127.0.0.1. */
export async function startWithArgs(
  host: LabHost,
  version: string,
  args: readonly string[],
  answersOn = '127.0.0.1',
): Promise<void> {
  await ensureBuild(host, version);
  await stopMemcached(host);
  const current = join(host.prefix, 'current');
  if ((await readlink(current).catch(() => null)) !== version) {
    const next = `${current}.lab-new`;
    await rm(next, { force: true });
    await symlink(version, next);
    await run('chown', ['-h', `${host.user}:${host.user}`, next]);
    await rename(next, current);
  }
  const binary = join(current, 'bin', 'memcached');
  const argv = ['-d', '-P', host.pidfile, '-p', String(host.memcachedPort), ...args];
  await run('runuser', ['-u', host.user, '--', binary, ...argv], { cwd: host.home });
  await waitFor(
    `memcached ${version} of ${host.name} on ${answersOn}:${host.memcachedPort}`,
    async () =>
      (await memcachedPid(host)) !== null &&
      (await memcachedVersion(host.memcachedPort, 1_000, answersOn)) === version,
  );
}

/** Stops the host's memcached and removes its memory file and any `.meta` beside it. */
export async function removeMemoryFile(host: LabHost): Promise<void> {
  await stopMemcached(host);
  const file = memoryFilePath(host);
  for (const path of [file, `${file}.meta`, `${file}.meta.memplay-refused`]) await rm(path, { force: true });
}
