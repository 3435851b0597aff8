import { existsSync } from 'node:fs';
import { chown, cp, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './exec.js';
import type { LabHost } from './layout.js';

// The lab's Unix users, made and looked up in bulk: a 500-host lab would
// otherwise spend ~10 processes per host (useradd, getent, usermod, id …),
// and useradd takes /etc/passwd's lock, so those could not even run at once.

interface Account {
  readonly uid: number;
  readonly gid: number;
}

/** name → uid/gid, from one `getent passwd`; a user never changes uid once made, so the cache stays true. */
const known = new Map<string, Account>();

async function readDatabase(database: 'passwd' | 'shadow'): Promise<string[][]> {
  const { stdout } = await run('getent', [database]);
  return stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split(':'));
}

async function refresh(): Promise<void> {
  for (const [name, , uid, gid] of await readDatabase('passwd')) {
    if (name) known.set(name, { uid: Number(uid), gid: Number(gid) });
  }
}

/** The uid and gid of a user the lab made (one `getent passwd` for all of them, not two `id` per call). */
export async function accountOf(user: string): Promise<Account> {
  if (!known.has(user)) await refresh();
  const account = known.get(user);
  if (!account) throw new Error(`lab: no user ${user} — lab up makes it`);
  return account;
}

/**
 * Every host's login user with a home (from /etc/skel, as useradd --create-home
 * gives) and bash. The password field is '*' (no password, not locked): with UsePAM
 * no, sshd refuses even key logins to a locked ('!') account. Users already right
 * cost nothing beyond the two database reads.
 */
export async function ensureUsers(hosts: readonly LabHost[]): Promise<void> {
  await refresh();
  const missing = hosts.filter((host) => !known.has(host.user));
  if (missing.length > 0) {
    // newusers makes them all under one lock; it fills no home, so /etc/skel is copied below.
    const lines = missing.map((host) => `${host.user}:*::::${host.home}:/bin/bash\n`).join('');
    await run('newusers', [], { input: lines });
    await refresh();
    for (const host of missing) await copySkeleton(host);
  }
  const shadow = new Map((await readDatabase('shadow')).map(([name, password]) => [name, password]));
  const unset = hosts.filter((host) => shadow.get(host.user) !== '*');
  // -e: the field is taken as already hashed, so it stays exactly '*'.
  if (unset.length > 0) await run('chpasswd', ['-e'], { input: unset.map((h) => `${h.user}:*\n`).join('') });
  for (const host of hosts) {
    if (existsSync(host.home)) continue;
    const { uid, gid } = await accountOf(host.user);
    await mkdir(host.home, { mode: 0o755 });
    await chown(host.home, uid, gid);
  }
}

async function copySkeleton(host: LabHost): Promise<void> {
  const { uid, gid } = await accountOf(host.user);
  await mkdir(host.home, { recursive: true, mode: 0o755 });
  await chown(host.home, uid, gid);
  if (!existsSync('/etc/skel')) return;
  for (const entry of await readdir('/etc/skel')) {
    const target = join(host.home, entry);
    if (existsSync(target)) continue;
    await cp(join('/etc/skel', entry), target, { recursive: true });
    await chown(target, uid, gid);
  }
}
