import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The memcached version every lab host runs at baseline. */
export const baselineVersion = '1.6.18';
/** The version the lab playbook upgrades to. */
export const targetVersion = '1.6.38';
/** Where scripts/fetch-sources.sh caches tarballs and the lab caches its builds. */
export const cacheDir = '/var/cache/memplay';
export const sshd = '/usr/sbin/sshd';

/** One lab host: a user, an sshd on 127.0.0.1:2200+i, a memcached on 127.0.0.1:11300+i (i shifted by labOffset). */
export interface LabHost {
  /** 1-based. */
  readonly index: number;
  /** The name in the lab playbook: `host1`. */
  readonly name: string;
  readonly user: string;
  readonly home: string;
  readonly sshPort: number;
  readonly memcachedPort: number;
  /** `<home>/memcached`: holds one directory per build and the `current` link. */
  readonly prefix: string;
  readonly pidfile: string;
  /** Where the host's sshd config, host key, pidfile and log live: `<lab>/hosts/host1`. */
  readonly sshdDir: string;
}

/** What labUp brought up; plain data, so vitest can hand it from globalSetup to the tests. */
export interface Lab {
  readonly repoRoot: string;
  readonly dir: string;
  /** The controller's private key, authorized for every lab user. */
  readonly identityFile: string;
  /** One `[127.0.0.1]:2201 ssh-ed25519 …` line per host. */
  readonly knownHosts: string;
  /** `<lab>/fleet.yml`: upgrades every host to the target version. */
  readonly playbook: string;
  readonly baselineVersion: string;
  readonly targetVersion: string;
  readonly hosts: readonly LabHost[];
}

// The harness runs both as test/lab/*.ts (vitest) and as dist/test/lab/*.js (the CLI):
// find the repository by walking up to its package.json.
export const repoRoot = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'scripts'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('lab: cannot find the repository root (package.json and scripts/)');
    dir = parent;
  }
})();

export const labDir = join(repoRoot, '.lab');

/**
 * Shifts this checkout's lab hosts: with MEMPLAY_LAB_OFFSET=10, host1 is user
 * mplab11 on ports 2211 and 11311. Two checkouts (a worktree beside main) then
 * each run their own lab; the names in playbooks stay host1, host2, …
 */
export const labOffset = (() => {
  const raw = process.env.MEMPLAY_LAB_OFFSET ?? '0';
  const offset = Number(raw);
  if (!Number.isInteger(offset) || offset < 0 || offset > 90) {
    throw new Error(`lab: MEMPLAY_LAB_OFFSET must be an integer from 0 to 90, not ${JSON.stringify(raw)}`);
  }
  return offset;
})();

/**
 * The most hosts a lab brings up. With the largest offset (90), host 500 listens on
 * 2790 and 11890: still below every handover side port (memcached port + 1000…1009,
 * from 12301) and every second instance (test/lab/instances.ts, from 14301).
 */
export const maxLabHosts = 500;

export function labHost(dir: string, index: number): LabHost {
  const user = `mplab${index + labOffset}`;
  const home = `/home/${user}`;
  return {
    index,
    name: `host${index}`,
    user,
    home,
    sshPort: 2200 + labOffset + index,
    memcachedPort: 11300 + labOffset + index,
    prefix: `${home}/memcached`,
    pidfile: `${home}/memcached.pid`,
    sshdDir: join(dir, 'hosts', `host${index}`),
  };
}

export function describeLab(hostCount: number, dir = labDir): Lab {
  if (!Number.isInteger(hostCount) || hostCount < 1 || hostCount > maxLabHosts) {
    throw new Error(`lab: a lab has 1 to ${maxLabHosts} hosts, not ${hostCount}`);
  }
  return {
    repoRoot,
    dir,
    identityFile: join(dir, 'id_ed25519'),
    knownHosts: join(dir, 'known_hosts'),
    playbook: join(dir, 'fleet.yml'),
    baselineVersion,
    targetVersion,
    hosts: Array.from({ length: hostCount }, (_, i) => labHost(dir, i + 1)),
  };
}

export function tarballPath(version: string): string {
  return join(cacheDir, `memcached_${version}.orig.tar.xz`);
}
