import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { arch } from 'node:os';
import { join } from 'node:path';
import { LabError, run } from './exec.js';
import { cacheDir } from './layout.js';
import { verifiedTarball } from './sources.js';

const plainConfigureArgs: readonly string[] = [];
/** TLS builds (`-Z`) need OpenSSL's headers: libssl-dev, which scripts/install-deps.sh installs. */
const tlsConfigureArgs: readonly string[] = ['--enable-tls'];

/**
 * The installed tree of memcached `version`, built from the pinned tarball once and
 * cached under /var/cache/memplay/builds/<version>-<key>. The key covers everything the
 * result depends on (tarball hash, configure args, architecture), so a cache hit is
 * the same build (a TLS build has its own key); the tree is renamed into place only
 * once `make install` succeeded.
 */
export async function cachedBuild(
  version: string,
  options: { readonly tls?: boolean } = {},
): Promise<string> {
  const configureArgs = options.tls ? tlsConfigureArgs : plainConfigureArgs;
  const tarball = await verifiedTarball(version);
  return cachedInstall(version, { sha256: tarball.sha256, configureArgs }, async (src, installDir, work) => {
    await run('tar', ['-xf', tarball.path, '-C', src, '--strip-components=1']);
    await run('./configure', [`--prefix=${installDir}`, ...configureArgs], { cwd: src, timeoutMs: 300_000 });
    await run('make', ['-j2'], { cwd: src, timeoutMs: 600_000 });
    await run('make', ['install', `DESTDIR=${join(work, 'root')}`], { cwd: src, timeoutMs: 300_000 });
    return join(work, 'root', installDir);
  });
}

/**
 * The cache both lab builds share: `<cache>/builds/<version>-<key>`, where the key hashes
 * `inputs` (whatever the result depends on) with the architecture. On a miss `build`
 * compiles in a fresh work folder (`src` made for it) and returns the installed tree,
 * which is renamed into place whole and must report `version` before it counts.
 */
export async function cachedInstall(
  version: string,
  inputs: Record<string, unknown>,
  build: (src: string, installDir: string, work: string) => Promise<string>,
): Promise<string> {
  const key = createHash('sha256')
    .update(JSON.stringify({ ...inputs, arch: arch() }))
    .digest('hex')
    .slice(0, 16);
  const buildsDir = join(cacheDir, 'builds');
  const installDir = join(buildsDir, `${version}-${key}`);
  if (await reportsVersion(installDir, version)) return installDir;

  await mkdir(buildsDir, { recursive: true });
  const work = await mkdtemp(join(buildsDir, `.work-${version}-`));
  try {
    const src = join(work, 'src');
    await mkdir(src);
    const tree = await build(src, installDir, work);
    // A tree left by a build that did not verify is replaced, never trusted.
    if (existsSync(installDir)) await rm(installDir, { recursive: true, force: true });
    await rename(tree, installDir);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  if (!(await reportsVersion(installDir, version))) {
    throw new LabError(`lab: the build in ${installDir} does not report memcached ${version}`);
  }
  return installDir;
}

export async function reportsVersion(installDir: string, version: string): Promise<boolean> {
  const binary = join(installDir, 'bin', 'memcached');
  if (!existsSync(binary)) return false;
  try {
    const { stdout } = await run(binary, ['-V']);
    return stdout.trim() === `memcached ${version}`;
  } catch {
    return false;
  }
}
