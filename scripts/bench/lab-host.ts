import { join } from 'node:path';
import { run, waitFor } from '../../test/lab/exec.js';
import { memcachedPid, stopMemcached } from '../../test/lab/host.js';
import type { LabHost } from '../../test/lab/index.js';
import { memcachedVersion } from '../../test/lab/index.js';

// What the bench does to a lab host beyond what test/lab/ offers.

export { ensureBuild } from '../../test/lab/install-build.js';

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
