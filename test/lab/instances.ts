import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, waitFor } from './exec.js';
import type { Lab, LabHost } from './layout.js';
import { baselineVersion } from './layout.js';
import { memcachedVersion } from './memcached-port.js';
import { livePid, stopByPidfile } from './pidfile.js';

// A lab host running two memcached (hosts.<name>.instances): its usual one on
// memcachedPort, and a second one on memcachedPort + 3000 (14301…14890) — above
// every lab's first ports, even a 500-host lab's (11301…11890), and their handover
// side ports (+1000…+1009: 12301…12899), with its own side ports (15301…15899) above
// those too; +100 would land on a big lab's first ports (host 101's, or another
// checkout's lab at a higher offset). Started by
// pidfile, or as two instances of a systemd template unit through the systemctl
// stand-in (test/lab/systemd/). Every process is found through its pidfile only.

/** The port of a lab host's second memcached. */
export function secondPort(host: LabHost): number {
  return host.memcachedPort + 3000;
}

/** The pidfile of a lab host's second memcached: beside the first, outside the prefix a reset empties. */
export function secondPidfile(host: LabHost): string {
  return join(host.home, `memcached-${secondPort(host)}.pid`);
}

const isMemcachedOf = (host: LabHost) => (exe: string) =>
  exe.startsWith(`${host.prefix}/`) && exe.endsWith('/bin/memcached');

/** Starts the second memcached from `<prefix>/current` (the baseline after a reset), as the host's user. */
export async function startSecondInstance(host: LabHost, args: readonly string[]): Promise<void> {
  const port = secondPort(host);
  const binary = join(host.prefix, 'current', 'bin', 'memcached');
  await run(
    'runuser',
    ['-u', host.user, '--', binary, '-d', '-P', secondPidfile(host), '-p', String(port), ...args],
    { cwd: host.home },
  );
  await waitFor(
    `the second memcached of ${host.name} to answer ${baselineVersion} on 127.0.0.1:${port}`,
    async () => (await memcachedVersion(port)) === baselineVersion,
  );
}

/** Where the systemctl stand-in reads units and keeps its state, on the host. */
export function unitFolder(host: LabHost): string {
  return join(host.home, 'systemd');
}

const binFolder = (host: LabHost) => join(host.home, 'bin');

/**
 * The systemctl and sudo stand-ins on the host's PATH (through ~/.ssh/environment),
 * and a template unit `memcached@.service` whose instance name is the port.
 */
export async function installTemplateUnit(lab: Lab, host: LabHost, args: readonly string[]): Promise<void> {
  const bin = binFolder(host);
  const units = unitFolder(host);
  await mkdir(bin, { recursive: true });
  for (const name of ['systemctl', 'sudo']) {
    await copyFile(join(lab.repoRoot, 'test', 'lab', 'systemd', `${name}.mjs`), join(bin, name));
    await chmod(join(bin, name), 0o755);
  }
  await writeFile(join(host.home, '.ssh', 'environment'), `PATH=${bin}:/usr/local/bin:/usr/bin:/bin\n`, {
    mode: 0o600,
  });
  await rm(units, { recursive: true, force: true });
  await mkdir(units, { recursive: true });
  // As a distribution ships it: a fixed binary, not memplay's `current`.
  await writeFile(
    join(units, 'memcached@.service'),
    `[Unit]\nDescription=memcached on port %i (lab)\n\n[Service]\nExecStart=${host.prefix}/${baselineVersion}/bin/memcached -p %i ${args.join(' ')}\n`,
  );
  await rm(join(host.home, '.sudo-standin-password'), { force: true });
  await run('chown', ['-R', `${host.user}:${host.user}`, bin, units, join(host.home, '.ssh', 'environment')]);
}

/** Runs the stand-in systemctl on the host as its user. */
export async function systemctl(host: LabHost, ...args: string[]): Promise<string> {
  const result = await run('runuser', ['-u', host.user, '--', join(binFolder(host), 'systemctl'), ...args], {
    cwd: host.home,
  });
  return result.stdout;
}

/**
 * Stops every memcached a multi-instance test may have left on the host — the second
 * pidfile instance and whatever the stand-in's units run — and removes the stand-ins,
 * so the host is back to its one memcached. Found through their pidfiles only.
 */
export async function stopExtraInstances(host: LabHost): Promise<void> {
  await stopByPidfile(secondPidfile(host), isMemcachedOf(host), `second memcached of ${host.name}`);
  const state = join(unitFolder(host), '.state');
  if (existsSync(state)) {
    for (const entry of await readdir(state)) {
      if (!entry.startsWith('memcached@') || !entry.endsWith('.pid')) continue;
      const pidfile = join(state, entry);
      if ((await livePid(pidfile, isMemcachedOf(host))) === null) continue;
      await stopByPidfile(pidfile, isMemcachedOf(host), `${entry.slice(0, -4)} of ${host.name}`);
    }
  }
}

/** The stand-ins and units gone (after stopExtraInstances). */
export async function removeTemplateUnit(host: LabHost): Promise<void> {
  await rm(join(host.home, '.ssh', 'environment'), { force: true });
  await rm(binFolder(host), { recursive: true, force: true });
  await rm(unitFolder(host), { recursive: true, force: true });
  await rm(join(host.home, '.sudo-standin-password'), { force: true });
}
