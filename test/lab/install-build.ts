import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { cachedBuild, reportsVersion } from './build.js';
import { run } from './exec.js';
import type { LabHost } from './layout.js';

/**
 * Puts a build of `version` under the host's prefix, as memplay's build task
 * would leave it, so a test or the bench skips a compile. The build comes from
 * the lab's build cache: compiled once per machine, copied after.
 */
export async function ensureBuild(host: LabHost, version: string): Promise<'present' | 'copied'> {
  const installDir = join(host.prefix, version);
  if (await reportsVersion(installDir, version)) return 'present';
  const build = await cachedBuild(version);
  const copy = join(host.prefix, `.lab-copy-${version}`);
  await rm(copy, { recursive: true, force: true });
  await run('cp', ['-a', build, copy]);
  await run('chown', ['-R', `${host.user}:${host.user}`, copy]);
  await rm(installDir, { recursive: true, force: true });
  await rename(copy, installDir);
  return 'copied';
}
