import { existsSync } from 'node:fs';
import {
  chown,
  lchown,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { accountOf, ensureUsers } from './accounts.js';
import { LabError, run, waitFor } from './exec.js';
import { copyBuildInto, holdsBuild } from './install-build.js';
import { stopExtraInstances } from './instances.js';
import type { LabHost } from './layout.js';
import { baselineVersion } from './layout.js';
import { memcachedVersion } from './memcached-port.js';
import { livePid, stopByPidfile } from './pidfile.js';

/** The memcached arguments of the lab, as in the lab playbook's `defaults.memcached.args`. */
export const memcachedArgs: readonly string[] = ['-l', '127.0.0.1', '-m', '256'];

async function getent(database: string, key: string): Promise<string[] | null> {
  try {
    return (await run('getent', [database, key])).stdout.trim().split(':');
  } catch {
    return null;
  }
}

async function ids(user: string): Promise<{ uid: number; gid: number }> {
  return accountOf(user);
}

/** The host's login user, as ensureUsers makes them (a lab makes all of its users in one go). */
export async function ensureUser(host: LabHost): Promise<void> {
  await ensureUsers([host]);
}

/**
 * Gives the host's user another login shell (fish, for test/e2e/login-shell.test.ts), or
 * bash back. Opt-in per test: every other test runs with the bash ensureUser gives, and
 * the test that changes it puts bash back when it ends.
 */
export async function setLoginShell(host: LabHost, shell: string): Promise<void> {
  await run('usermod', ['--shell', shell, host.user]);
}

/** The user's login shell, as sshd will start it. */
export async function loginShellOf(host: LabHost): Promise<string> {
  return (await getent('passwd', host.user))?.[6] ?? '';
}

/** Authorizes the controller's public key for the host's user; untouched if already so. */
export async function ensureAuthorizedKey(host: LabHost, publicKey: string): Promise<void> {
  const { uid, gid } = await ids(host.user);
  const sshDir = join(host.home, '.ssh');
  const file = join(sshDir, 'authorized_keys');
  // Its owner checked too: a lab up cut short between the mkdir and the chown leaves root's folder.
  if (!existsSync(sshDir)) await mkdir(sshDir, { mode: 0o700 });
  if ((await stat(sshDir)).uid !== uid) await chown(sshDir, uid, gid);
  const wanted = `${publicKey.trim()}\n`;
  // Ownership too: a lab up cut short between the write and the chown leaves root's file, which StrictModes refuses.
  if (existsSync(file) && (await readFile(file, 'utf8')) === wanted && (await stat(file)).uid === uid) return;
  await writeFile(file, wanted, { mode: 0o600 });
  await chown(file, uid, gid);
}

const isMemcachedOf = (host: LabHost) => (exe: string) =>
  exe.startsWith(`${host.prefix}/`) && exe.endsWith('/bin/memcached');

export function memcachedPid(host: LabHost): Promise<number | null> {
  return livePid(host.pidfile, isMemcachedOf(host));
}

/** True if the host is at baseline: `current` → baseline, running under its pidfile, answering. */
export async function isAtBaseline(host: LabHost): Promise<boolean> {
  const link = await readlink(join(host.prefix, 'current')).catch(() => null);
  return (
    link === baselineVersion &&
    (await memcachedPid(host)) !== null &&
    (await memcachedVersion(host.memcachedPort)) === baselineVersion
  );
}

export async function stopMemcached(host: LabHost): Promise<void> {
  await stopByPidfile(host.pidfile, isMemcachedOf(host), `memcached of ${host.name}`);
  await waitFor(
    `port ${host.memcachedPort} of ${host.name} to close`,
    async () => (await memcachedVersion(host.memcachedPort, 300)) === null,
    5_000,
  ).catch(() => {
    throw new LabError(
      `lab: ${host.name}: 127.0.0.1:${host.memcachedPort} still answers after stopping the memcached in ` +
        `${host.pidfile} — a memcached the lab did not start holds the port; stop it by hand`,
    );
  });
}

async function startMemcached(host: LabHost): Promise<void> {
  const binary = join(host.prefix, 'current', 'bin', 'memcached');
  const args = ['-d', '-P', host.pidfile, '-p', String(host.memcachedPort), ...memcachedArgs];
  await run('runuser', ['-u', host.user, '--', binary, ...args], { cwd: host.home });
  await waitFor(
    `memcached of ${host.name} to answer ${baselineVersion} on 127.0.0.1:${host.memcachedPort}`,
    async () =>
      (await memcachedPid(host)) !== null && (await memcachedVersion(host.memcachedPort)) === baselineVersion,
  );
}

/** `<prefix>/.memplay`: where memplay keeps its run lock (src/engine/host-lock.ts). */
export const memplayFolder = '.memplay';

/**
 * The folder memplay makes on its first run, made here as the host's user so that
 * "nothing changed" snapshots do not see the first run of a test create it.
 */
async function ensureMemplayFolder(host: LabHost): Promise<void> {
  const folder = join(host.prefix, memplayFolder);
  if (existsSync(folder)) return;
  const { uid, gid } = await ids(host.user);
  await mkdir(folder, { mode: 0o755 });
  await chown(folder, uid, gid);
}

/** Installs the baseline build under the prefix (a copy of the cached build), owned by the user. */
async function ensureBaselineBuild(host: LabHost, build: string): Promise<void> {
  const { uid, gid } = await ids(host.user);
  if (!existsSync(host.prefix)) {
    await mkdir(host.prefix, { mode: 0o755 });
    await chown(host.prefix, uid, gid);
  }
  if (await holdsBuild(join(host.prefix, baselineVersion), build)) return;
  await copyBuildInto(host, baselineVersion, build);
}

async function pointCurrentAtBaseline(host: LabHost): Promise<void> {
  const current = join(host.prefix, 'current');
  if ((await readlink(current).catch(() => null)) === baselineVersion) return;
  const { uid, gid } = await ids(host.user);
  const next = `${current}.lab-new`;
  await rm(next, { force: true });
  await symlink(baselineVersion, next);
  await lchown(next, uid, gid);
  await rename(next, current);
}

/**
 * Brings a host back to baseline: memcached stopped by its pidfile, every build but
 * the baseline and every staging or temporary entry under the prefix removed,
 * `current` → baseline, baseline started and answering.
 */
/** `keepBuilds`: build directories an earlier apply made that a test may reuse (it saves a compile). */
export async function resetMemcached(
  host: LabHost,
  build: string,
  keepBuilds: readonly string[] = [],
): Promise<void> {
  // A multi-instance test's second memcached goes too: a host at baseline runs one.
  await stopExtraInstances(host);
  await stopMemcached(host);
  if (existsSync(host.prefix)) {
    for (const entry of await readdir(host.prefix)) {
      const path = join(host.prefix, entry);
      const keep =
        entry === baselineVersion ||
        keepBuilds.includes(entry) ||
        // memplay's own folder (its run lock): kept as a host that has seen memplay keeps it.
        entry === memplayFolder ||
        (entry === 'current' && (await lstat(path)).isSymbolicLink());
      if (!keep) await rm(path, { recursive: true, force: true });
    }
  }
  await ensureBaselineBuild(host, build);
  await ensureMemplayFolder(host);
  await pointCurrentAtBaseline(host);
  await startMemcached(host);
}
