import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, waitFor } from './exec.js';
import type { Lab, LabHost } from './layout.js';
import { sshd } from './layout.js';
import { isUp } from './memcached-port.js';
import { livePid, stopByPidfile } from './pidfile.js';

const isSshd = (exe: string) => exe === sshd;

function files(host: LabHost) {
  return {
    config: join(host.sshdDir, 'sshd_config'),
    hostKey: join(host.sshdDir, 'ssh_host_ed25519_key'),
    pidfile: join(host.sshdDir, 'sshd.pid'),
    log: join(host.sshdDir, 'sshd.log'),
  };
}

/** Generates an ed25519 key pair without passphrase at `path` unless one is there. */
export async function ensureKeyPair(path: string, comment: string): Promise<void> {
  if (existsSync(path) && existsSync(`${path}.pub`)) return;
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], { input: 'y\n' });
}

/** Where a lab sshd departs from the hosts' own: the bastion (test/lab/bastion.ts) listens elsewhere and logs more. */
export interface SshdVariant {
  /** Who wrote the file, for its first line. */
  readonly writer: string;
  readonly listenAddress: string;
  readonly logLevel: 'VERBOSE' | 'DEBUG1';
  /** Whether to write `PermitUserEnvironment PATH` (the systemd test needs it on the hosts). */
  readonly userEnvironmentPath: boolean;
}

const hostVariant: SshdVariant = {
  writer: 'the memplay lab (test/lab); rewritten on every lab up',
  listenAddress: '127.0.0.1',
  logLevel: 'VERBOSE',
  userEnvironmentPath: true,
};

/** A host's own departures from the lab's sshd: none by default. */
export interface SshdOptions {
  /**
   * `false` leaves out `Subsystem sftp`, as on hosts that disable it: sshd then refuses
   * the subsystem, and memplay must move files over an exec channel.
   */
  readonly sftp?: boolean;
}

export function sshdConfig(
  host: LabHost,
  variant: SshdVariant = hostVariant,
  options: SshdOptions = {},
): string {
  const { hostKey, pidfile } = files(host);
  const sftp = options.sftp ?? true;
  // StrictModes stays on, as on a real host: ~/.ssh and authorized_keys belong to the
  // user and are not group- or world-writable. UsePAM no is why lab users need a
  // password field of '*' rather than a locked '!'. Forwarding is sshd's default,
  // written out because memplay reaches memcached through it.
  return `# Written by ${variant.writer}.
ListenAddress ${variant.listenAddress}
Port ${host.sshPort}
HostKey ${hostKey}
PidFile ${pidfile}
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
AllowUsers ${host.user}
AuthorizedKeysFile .ssh/authorized_keys
StrictModes yes
AllowTcpForwarding yes
X11Forwarding no
PrintMotd no
${sftp ? 'Subsystem sftp internal-sftp' : '# No Subsystem sftp: this host refuses SFTP (test/lab sshd options).'}
LogLevel ${variant.logLevel}
${
  variant.userEnvironmentPath
    ? '# Only PATH, from ~/.ssh/environment: how the systemd test puts its systemctl and sudo stand-ins first.\nPermitUserEnvironment PATH\n'
    : ''
}`;
}

export async function sshdPid(host: LabHost): Promise<number | null> {
  return livePid(files(host).pidfile, isSshd);
}

/**
 * Runs the host's sshd on 127.0.0.1:<sshPort>. A running one is kept unless its
 * config changed, so a second lab up costs a pidfile read and a connect. Lab up
 * passes no options: it puts back a host a test changed.
 */
export async function ensureSshd(host: LabHost, options: SshdOptions = {}): Promise<void> {
  const { config, hostKey, pidfile, log } = files(host);
  await mkdir(host.sshdDir, { recursive: true, mode: 0o755 });
  await ensureKeyPair(hostKey, `memplay-lab ${host.name}`);
  const wanted = sshdConfig(host, hostVariant, options);
  const written = existsSync(config) ? await readFile(config, 'utf8') : null;
  if (written !== wanted) {
    await stopByPidfile(pidfile, isSshd, `sshd of ${host.name}`);
    await writeFile(config, wanted, { mode: 0o644 });
  }
  if ((await sshdPid(host)) !== null && (await isUp(host.sshPort))) return;

  await stopByPidfile(pidfile, isSshd, `sshd of ${host.name}`);
  // The privilege-separation directory; Debian creates it from the ssh service, which the lab does not use.
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  await run(sshd, ['-t', '-f', config]);
  await run(sshd, ['-f', config, '-E', log]);
  await waitFor(
    `sshd of ${host.name} on 127.0.0.1:${host.sshPort} (log: ${log})`,
    async () => (await sshdPid(host)) !== null && (await isUp(host.sshPort)),
  );
}

/**
 * Restarts a host's sshd with or without its SFTP subsystem. Connections already
 * open keep the config they started with; the next one gets the new one.
 */
export async function setSftp(host: LabHost, enabled: boolean): Promise<void> {
  await ensureSshd(host, { sftp: enabled });
}

export async function stopSshd(host: LabHost): Promise<void> {
  await stopByPidfile(files(host).pidfile, isSshd, `sshd of ${host.name}`);
}

/** The `[127.0.0.1]:2201 ssh-ed25519 AAAA…` line for a host's key. */
export async function knownHostsLine(host: LabHost): Promise<string> {
  const [type, key] = (await readFile(`${files(host).hostKey}.pub`, 'utf8')).trim().split(/\s+/);
  return `[127.0.0.1]:${host.sshPort} ${type} ${key}`;
}

/** Writes known_hosts for the given hosts (all of the lab's by default) to `path`. */
export async function writeKnownHosts(
  lab: Lab,
  path: string,
  hosts: readonly LabHost[] = lab.hosts,
): Promise<void> {
  const lines = await Promise.all(hosts.map(knownHostsLine));
  await writeFile(path, lines.map((line) => `${line}\n`).join(''), { mode: 0o644 });
}
