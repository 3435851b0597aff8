import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildMarker } from '../../src/facts/host-facts.js';
import { run } from './exec.js';
import type { LabHost } from './layout.js';

/**
 * A build directory whose bin/memcached answers `-V` with `memcached <reports>`
 * and exits 1 if started: an old build to be pruned, or a new one that will not start.
 */
export async function installFakeBuild(host: LabHost, dir: string, reports: string): Promise<void> {
  const bin = join(host.prefix, dir, 'bin');
  await mkdir(bin, { recursive: true });
  const script = join(bin, 'memcached');
  await writeFile(
    script,
    `#!/bin/sh\ncase "$1" in -V) echo "memcached ${reports}"; exit 0;; esac\necho "memcached: this build is broken on purpose" >&2\nexit 1\n`,
  );
  await chmod(script, 0o755);
  // Marked as memplay's build task marks what it installs: a build it may prune.
  await writeFile(join(host.prefix, dir, buildMarker), '');
  await run('chown', ['-R', `${host.user}:${host.user}`, join(host.prefix, dir)]);
}
