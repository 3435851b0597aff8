/**
 * The lab fleet: N memcached hosts on loopback, each behind its own OpenSSH sshd and
 * Unix user, for end-to-end tests and the demo. Needs root (users, sshd) and what
 * scripts/install-deps.sh installs. Host i: user mplab<i>, ssh 127.0.0.1:2200+i,
 * memcached 127.0.0.1:11300+i under /home/mplab<i>/memcached/{1.6.18,current}.
 */
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureUsers } from './accounts.js';
import { cachedBuild } from './build.js';
import { forEachLimited } from './concurrency.js';
import { ensureAuthorizedKey, isAtBaseline, memcachedPid, resetMemcached, stopMemcached } from './host.js';
import { stopExtraInstances } from './instances.js';
import type { Lab, LabHost } from './layout.js';
import { baselineVersion, describeLab, labDir, labHost, targetVersion } from './layout.js';
import { isUp, memcachedVersion } from './memcached-port.js';
import { writeFleetPlaybook } from './playbook.js';
import { preflight, verifiedTarball } from './sources.js';
import { ensureKeyPair, ensureSshd, sshdPid, stopSshd, writeKnownHosts } from './sshd.js';

export { loginShellOf, setLoginShell } from './host.js';
export { ensureBuild } from './install-build.js';
export type { Lab, LabHost } from './layout.js';
export { isUp, memcachedStats, memcachedVersion } from './memcached-port.js';
export { memoryFileArgs, memoryFilePath, removeMemoryFile, startWithArgs } from './memory-file.js';
export type { FleetOverrides } from './playbook.js';
export { writeFleetPlaybook } from './playbook.js';
export type { FileEntry, HostSnapshot } from './snapshot.js';
export { snapshotHost } from './snapshot.js';
export { setSftp } from './sshd.js';
export * from './traffic.js';

const stateFile = (dir: string) => join(dir, 'lab.json');

// Hosts set up (or stopped) at once: every one of a 3-host lab, and a 500-host lab
// in waves, so ssh-keygen, sshd and memcached starts do not all fight for 2 cores
// and their readiness polls do not time out behind each other.
const hostsAtOnce = 32;

function hostOf(lab: Lab, index: number): LabHost {
  const host = lab.hosts[index - 1];
  if (!host) throw new Error(`lab: no host ${index} (the lab has ${lab.hosts.length})`);
  return host;
}

async function ensureHost(
  lab: Lab,
  host: LabHost,
  build: string,
  forceReset: boolean,
  keepBuilds: readonly string[] = [],
): Promise<void> {
  await ensureAuthorizedKey(host, await readFile(`${lab.identityFile}.pub`, 'utf8'));
  await ensureSshd(host);
  if (forceReset || !(await isAtBaseline(host))) await resetMemcached(host, build, keepBuilds);
}

/**
 * Brings the lab up and returns its description. Idempotent: users, keys, the cached
 * build and healthy sshd/memcached processes are reused, so on a running lab this is
 * a few pidfile reads and connects. A host not at baseline is reset to it.
 */
export async function labUp(options: { hosts?: number; dir?: string } = {}): Promise<Lab> {
  preflight();
  const lab = describeLab(options.hosts ?? 3, options.dir ?? labDir);
  await verifiedTarball(targetVersion);
  await mkdir(lab.dir, { recursive: true, mode: 0o755 });
  await ensureKeyPair(lab.identityFile, 'memplay-lab controller');
  const build = await cachedBuild(baselineVersion);
  await ensureUsers(lab.hosts);
  await forEachLimited(lab.hosts, hostsAtOnce, (host) => ensureHost(lab, host, build, false));
  await writeKnownHosts(lab, lab.knownHosts);
  await writeFleetPlaybook(lab);
  await writeFile(stateFile(lab.dir), `${JSON.stringify(lab, null, 2)}\n`);
  return lab;
}

/** The lab last brought up in `dir` (default `<repo>/.lab`), or null if none was. */
export async function readLab(dir = labDir): Promise<Lab | null> {
  try {
    return JSON.parse(await readFile(stateFile(dir), 'utf8')) as Lab;
  } catch {
    return null;
  }
}

/**
 * Stops every lab memcached and sshd, each found by its pidfile only (never by name).
 * Users, keys, builds and files stay, so the next labUp is quick.
 */
export async function labDown(lab?: Lab): Promise<void> {
  const described = lab ?? (await readLab()) ?? describeLab(3);
  // Also hosts an earlier, bigger lab left behind in the same directory.
  const hostsDir = join(described.dir, 'hosts');
  const indexes = new Set(described.hosts.map((h) => h.index));
  if (existsSync(hostsDir)) {
    for (const name of readdirSync(hostsDir)) {
      const match = name.match(/^host([0-9]+)$/);
      if (match) indexes.add(Number(match[1]));
    }
  }
  await forEachLimited([...indexes], hostsAtOnce, async (index) => {
    const host = labHost(described.dir, index);
    await stopExtraInstances(host);
    await stopMemcached(host);
    await stopSshd(host);
  });
}

/**
 * Puts host `index` (1-based) back to baseline: memcached stopped by pidfile, every
 * build but the baseline and all staging/temporary entries under the prefix removed,
 * `current` → baseline, baseline started and answering; its sshd and key checked too.
 */
export async function resetHost(lab: Lab, index: number, keepBuilds: readonly string[] = []): Promise<void> {
  const build = await cachedBuild(baselineVersion);
  await ensureHost(lab, hostOf(lab, index), build, true, keepBuilds);
}

/** resetHost for every host, and the lab's known_hosts and fleet.yml rewritten. */
export async function resetLab(lab: Lab, options: { keepBuilds?: readonly string[] } = {}): Promise<void> {
  const build = await cachedBuild(baselineVersion);
  await forEachLimited(lab.hosts, hostsAtOnce, (host) =>
    ensureHost(lab, host, build, true, options.keepBuilds),
  );
  await writeKnownHosts(lab, lab.knownHosts);
  await writeFleetPlaybook(lab);
}

export interface HostStatus {
  readonly host: string;
  readonly sshdPid: number | null;
  readonly sshUp: boolean;
  readonly memcachedPid: number | null;
  /** What the memcached port answers to `version`, null if nothing. */
  readonly memcachedVersion: string | null;
}

export function labStatus(lab: Lab): Promise<HostStatus[]> {
  return Promise.all(
    lab.hosts.map(async (host) => ({
      host: host.name,
      sshdPid: await sshdPid(host),
      sshUp: await isUp(host.sshPort),
      memcachedPid: await memcachedPid(host),
      memcachedVersion: await memcachedVersion(host.memcachedPort),
    })),
  );
}

/** Whether every host's sshd and memcached run under the lab's pidfiles and answer. */
export async function isLabRunning(lab: Lab): Promise<boolean> {
  const status = await labStatus(lab);
  return status.every(
    (s) => s.sshdPid !== null && s.sshUp && s.memcachedPid !== null && s.memcachedVersion !== null,
  );
}
