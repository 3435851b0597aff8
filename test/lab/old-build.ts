import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cachedInstall } from './build.js';
import { LabError, run } from './exec.js';
import { baselineVersion, repoRoot } from './layout.js';
import { sha256Of, verifiedTarball } from './sources.js';

/** autoconf's helper scripts a `git archive` leaves out (`autogen.sh` would add them, with automake). */
const auxFiles = ['compile', 'missing', 'install-sh', 'config.guess', 'config.sub', 'depcomp'];

// Releases older than Debian's archive holds (fleets still run 1.5 and 1.4), from
// a folder of upstream tarballs beside the checkout: MEMPLAY_OLD_SOURCES, else
// the nearest shared/sources above it (../shared/sources for a checkout beside
// that folder; a clone made one level deeper, as CI may, still finds it). Each is pinned here, with the flags its 2020 code needs on
// Debian 12's GCC (-fcommon: a header defines a variable in every unit;
// -Wno-error: `sigignore` is deprecated), as that folder's README says. Its
// tarballs are `git archive`s with `configure` generated but without autoconf's
// helper scripts; those are version-independent, so they are taken from the
// lab's pinned baseline release rather than needing automake here.

interface OldSource {
  readonly file: string;
  readonly sha256: string;
  readonly cflags: string;
}

const oldSources: Readonly<Record<string, OldSource>> = {
  '1.5.22': {
    file: 'memcached-1.5.22.tar.xz',
    sha256: 'a978077bd9f03242451101c66ff3aa39b296d7b91a85a6561f020ab83f556af8',
    cflags: '-g -O2 -fcommon -Wno-error',
  },
};

export const oldVersions: readonly string[] = Object.keys(oldSources);

function oldSourcesDir(file: string): string {
  if (process.env.MEMPLAY_OLD_SOURCES) return process.env.MEMPLAY_OLD_SOURCES;
  const beside = join(repoRoot, '..', 'shared', 'sources');
  for (let dir = dirname(repoRoot); dir !== dirname(dir); dir = dirname(dir)) {
    const candidate = join(dir, 'shared', 'sources');
    if (existsSync(join(candidate, file))) return candidate;
  }
  return beside;
}

/** The installed tree of an old memcached, built once per machine like cachedBuild. */
export async function cachedOldBuild(version: string): Promise<string> {
  const source = oldSources[version];
  if (!source) throw new LabError(`lab: no pinned old source for memcached ${version}`);
  const tarball = join(oldSourcesDir(source.file), source.file);
  if (!existsSync(tarball)) {
    throw new LabError(`lab: ${tarball} is missing — set MEMPLAY_OLD_SOURCES to the folder that holds it`);
  }
  const actual = await sha256Of(tarball);
  if (actual !== source.sha256) {
    throw new LabError(`lab: sha256 of ${tarball} is ${actual}, pinned ${source.sha256}`);
  }
  return cachedInstall(
    version,
    { sha256: source.sha256, cflags: source.cflags },
    async (src, installDir, work) => {
      await run('tar', ['-xf', tarball, '-C', src, '--strip-components=1']);
      const helpers = await verifiedTarball(baselineVersion);
      const members = auxFiles.map((file) => `memcached-${baselineVersion}/${file}`);
      await run('tar', ['-xf', helpers.path, '-C', src, '--strip-components=1', ...members]);
      await run('./configure', [`--prefix=${installDir}`], { cwd: src, timeoutMs: 300_000 });
      // `make install` also wants the docs toolchain: the binary is all a lab host runs.
      await run('make', ['-j2', `CFLAGS=${source.cflags}`, 'memcached'], { cwd: src, timeoutMs: 600_000 });
      const staged = join(work, 'root');
      await run('install', ['-D', join(src, 'memcached'), join(staged, 'bin', 'memcached')]);
      return staged;
    },
  );
}
