/**
 * A bastion for the lab: one extra lab user and sshd that is the only way to reach the
 * lab hosts. The controller under test runs in its own network namespace, joined to the
 * lab's by a veth pair: from there it reaches the bastion's sshd on the veth address
 * and nothing else (the lab hosts listen on the lab's 127.0.0.1, which the namespace
 * does not share). The bastion's sshd, in the lab's namespace, forwards to them.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, waitFor } from './exec.js';
import { ensureAuthorizedKey, ensureUser } from './host.js';
import { type Lab, type LabHost, labHost, labOffset, sshd } from './layout.js';
import { livePid, stopByPidfile } from './pidfile.js';
import { ensureKeyPair, sshdConfig } from './sshd.js';

export interface Bastion {
  readonly host: LabHost;
  /** The namespace the controller runs in, with `ip netns exec`. */
  readonly namespace: string;
  /** The bastion's address as the namespace sees it (the lab side of the veth pair). */
  readonly address: string;
  /** The controller's address in its namespace: where its connections to the bastion come from. */
  readonly controllerAddress: string;
  readonly sshPort: number;
  /** `[address]:port ssh-ed25519 …` */
  readonly knownHostsLine: string;
  /** sshd's log: one `Accepted publickey` per login, one `direct-tcpip` line per forwarded channel. */
  readonly log: string;
}

const isSshd = (exe: string) => exe === sshd;

// Per lab offset, so two checkouts' bastions do not collide: 10.201.<offset>.0/30.
function names(index: number) {
  const net = `10.201.${labOffset}`;
  return {
    namespace: `memplay-lab${labOffset}-jump`,
    outside: `mpjump${labOffset}a`,
    inside: `mpjump${labOffset}b`,
    address: `${net}.1`,
    controllerAddress: `${net}.2`,
    index,
  };
}

async function ensureNamespace(index: number): Promise<void> {
  const n = names(index);
  const { stdout } = await run('ip', ['netns', 'list']);
  if (!stdout.split('\n').some((line) => line.split(' ')[0] === n.namespace)) {
    await run('ip', ['netns', 'add', n.namespace]);
  }
  const links = (await run('ip', ['-o', 'link', 'show'])).stdout;
  if (!links.includes(`${n.outside}@`)) {
    await run('ip', ['link', 'add', n.outside, 'type', 'veth', 'peer', 'name', n.inside]);
    await run('ip', ['link', 'set', n.inside, 'netns', n.namespace]);
    await run('ip', ['addr', 'add', `${n.address}/30`, 'dev', n.outside]);
    await run('ip', ['-n', n.namespace, 'addr', 'add', `${n.controllerAddress}/30`, 'dev', n.inside]);
  }
  await run('ip', ['link', 'set', n.outside, 'up']);
  await run('ip', ['-n', n.namespace, 'link', 'set', n.inside, 'up']);
  await run('ip', ['-n', n.namespace, 'link', 'set', 'lo', 'up']);
}

/** Brings up the namespace and the bastion (lab host `index`, beyond the lab's hosts). */
export async function bastionUp(lab: Lab, index: number): Promise<Bastion> {
  const n = names(index);
  const host = labHost(lab.dir, index);
  await ensureNamespace(index);
  await ensureUser(host);
  await ensureAuthorizedKey(host, await readFile(`${lab.identityFile}.pub`, 'utf8'));
  await mkdir(host.sshdDir, { recursive: true, mode: 0o755 });
  const hostKey = join(host.sshdDir, 'ssh_host_ed25519_key');
  await ensureKeyPair(hostKey, `memplay-lab bastion ${host.name}`);
  const config = join(host.sshdDir, 'sshd_config');
  const pidfile = join(host.sshdDir, 'sshd.pid');
  const log = join(host.sshdDir, 'sshd.log');
  await stopByPidfile(pidfile, isSshd, `bastion sshd of ${host.name}`);
  await writeFile(
    config,
    sshdConfig(host, {
      writer: 'the memplay lab bastion (test/lab/bastion.ts)',
      listenAddress: n.address,
      // DEBUG1 makes sshd log each forwarded channel's destination, which the test reads.
      logLevel: 'DEBUG1',
      userEnvironmentPath: false,
    }),
    { mode: 0o644 },
  );
  await writeFile(log, '');
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  await run(sshd, ['-t', '-f', config]);
  await run(sshd, ['-f', config, '-E', log]);
  await waitFor(`bastion sshd on ${n.address}:${host.sshPort} (log: ${log})`, async () => {
    if ((await livePid(pidfile, isSshd)) === null) return false;
    return (await readFile(log, 'utf8')).includes('Server listening');
  });
  const [type, key] = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(/\s+/);
  return {
    host,
    namespace: n.namespace,
    address: n.address,
    controllerAddress: n.controllerAddress,
    sshPort: host.sshPort,
    knownHostsLine: `[${n.address}]:${host.sshPort} ${type} ${key}`,
    log,
  };
}

/** Stops the bastion's sshd (by pidfile) and removes the namespace and its veth pair. */
export async function bastionDown(lab: Lab, index: number): Promise<void> {
  const n = names(index);
  const host = labHost(lab.dir, index);
  await stopByPidfile(join(host.sshdDir, 'sshd.pid'), isSshd, `bastion sshd of ${host.name}`);
  // Deleting one end of a veth pair deletes both.
  if ((await run('ip', ['-o', 'link', 'show'])).stdout.includes(`${n.outside}@`)) {
    await run('ip', ['link', 'del', n.outside]);
  }
  if (existsSync(`/run/netns/${n.namespace}`)) await run('ip', ['netns', 'del', n.namespace]);
}

/** The command prefix that runs a program inside the controller's namespace. */
export function inNamespace(bastion: Bastion): string[] {
  return ['ip', 'netns', 'exec', bastion.namespace];
}
