import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, tarballPath } from './layout.js';

const installHint = 'run `sudo scripts/install-deps.sh`';

/** Pinned sha256 per memcached version, from the file scripts/fetch-sources.sh checks against. */
export function pinnedSha256(): ReadonlyMap<string, string> {
  const file = join(repoRoot, 'scripts', 'memcached-sources.sha256');
  const pinned = new Map<string, string>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = line.match(/^([0-9a-f]{64}) +memcached_(.+)\.orig\.tar\.xz$/);
    if (match) pinned.set(match[2] as string, match[1] as string);
  }
  return pinned;
}

export function sha256Of(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('error', reject)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')));
  });
}

/** The cached tarball of `version`, after checking it against its pinned sha256. */
export async function verifiedTarball(version: string): Promise<{ path: string; sha256: string }> {
  const sha256 = pinnedSha256().get(version);
  if (!sha256)
    throw new Error(`lab: no pinned sha256 for memcached ${version} in scripts/memcached-sources.sha256`);
  const path = tarballPath(version);
  if (!existsSync(path)) throw new Error(`lab: ${path} is missing — ${installHint}`);
  const actual = await sha256Of(path);
  if (actual !== sha256) {
    throw new Error(`lab: sha256 of ${path} is ${actual}, pinned ${sha256} — delete it and ${installHint}`);
  }
  return { path, sha256 };
}

const requiredFiles: ReadonlyArray<[path: string, from: string]> = [
  ['/usr/sbin/sshd', 'openssh-server'],
  ['/usr/bin/ssh-keygen', 'openssh-client'],
  ['/usr/bin/ssh', 'openssh-client'],
  ['/usr/include/event2/event.h', 'libevent-dev'],
  ['/usr/bin/make', 'build-essential'],
  ['/usr/bin/cc', 'build-essential'],
  ['/usr/bin/xz', 'xz-utils'],
  ['/usr/sbin/useradd', 'passwd'],
  ['/usr/sbin/runuser', 'util-linux'],
];

/** Fails with what is missing and how to get it, instead of half-building a lab. */
export function preflight(): void {
  if (process.getuid?.() !== 0) {
    throw new Error(
      'lab: must run as root (it creates users mplab1… and runs sshd on 127.0.0.1:2201…) — ' +
        `${installHint} once, then run the tests as root`,
    );
  }
  const missing = requiredFiles.filter(([path]) => !existsSync(path));
  if (missing.length > 0) {
    const list = missing.map(([path, from]) => `${path} (${from})`).join(', ');
    throw new Error(`lab: missing ${list} — ${installHint}`);
  }
}
