import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Lab, LabHost } from '../../test/lab/index.js';
import { tarballPath } from '../../test/lab/layout.js';
import { runProgram } from '../bench/process.js';

// The Ansible side of the comparison, run as an operator runs it:
// ansible-playbook with a generated inventory and ansible.cfg, host keys
// checked against the lab's known_hosts, SSH pipelining and ControlPersist on.

export const ansiblePlaybook = '/usr/bin/ansible-playbook';

export interface AnsibleSetup {
  readonly dir: string;
  readonly playbooks: string;
  readonly forks: number;
}

/** The settings the report quotes: keep in step with ansibleCfg. */
export function ansibleSettings(forks: number): string {
  return `forks ${forks}, pipelining on, ControlPersist 60s (a fresh control-socket directory per run), gather_facts off, StrictHostKeyChecking yes`;
}

function ansibleCfg(lab: Lab, forks: number, controlDir: string): string {
  return `[defaults]
forks = ${forks}
host_key_checking = True
interpreter_python = /usr/bin/python3
retry_files_enabled = False
gathering = explicit
nocows = True

[ssh_connection]
pipelining = True
control_path_dir = ${controlDir}
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${lab.knownHosts}
`;
}

function hostEntry(host: LabHost): string {
  return `        ${host.name}:
          ansible_port: ${host.sshPort}
          ansible_user: ${host.user}
          memcached_port: ${host.memcachedPort}
          memcached_prefix: ${host.prefix}
          memcached_pidfile: ${host.pidfile}
          memcached_src_dir: ${host.home}/memcached-src
          memcached_dump: ${host.home}/memcached.dump
`;
}

export function inventory(lab: Lab, hosts: readonly LabHost[]): string {
  return `all:
  vars:
    ansible_host: 127.0.0.1
    ansible_ssh_private_key_file: ${lab.identityFile}
    memcached_target_version: "${lab.targetVersion}"
    memcached_source_tarball: ${tarballPath(lab.targetVersion)}
  children:
    memcached:
      hosts:
${hosts.map(hostEntry).join('')}`;
}

export async function prepareAnsible(lab: Lab, workDir: string, forks: number): Promise<AnsibleSetup> {
  const dir = join(workDir, 'ansible');
  await mkdir(dir, { recursive: true });
  return { dir, playbooks: join(lab.repoRoot, 'scripts', 'bench-fleet', 'ansible'), forks };
}

export interface AnsibleRun {
  readonly wallMs: number;
  readonly exitCode: number | null;
  /** PLAY RECAP per host: ok, changed, unreachable, failed, skipped. */
  readonly recap: ReadonlyMap<string, Record<string, number>>;
  /** From the rolling play's debug task. */
  readonly outOfServiceMs: ReadonlyMap<string, number>;
  readonly output: string;
}

const RECAP_LINE = /^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$/;
const OUT_OF_SERVICE = /^ok: \[(\S+)\] => \{\s*"msg": "out of service (\d+) ms/gm;

export function parseAnsibleOutput(output: string): Pick<AnsibleRun, 'recap' | 'outOfServiceMs'> {
  const recap = new Map<string, Record<string, number>>();
  const recapAt = output.lastIndexOf('PLAY RECAP');
  for (const line of recapAt < 0 ? [] : output.slice(recapAt).split('\n')) {
    const match = RECAP_LINE.exec(line.trim());
    if (!match?.[1] || !match[2]) continue;
    const counts: Record<string, number> = {};
    for (const pair of match[2].trim().split(/\s+/)) {
      const [key, value] = pair.split('=');
      if (key) counts[key] = Number(value);
    }
    recap.set(match[1], counts);
  }
  const outOfServiceMs = new Map<string, number>();
  for (const match of output.matchAll(OUT_OF_SERVICE)) {
    if (match[1]) outOfServiceMs.set(match[1], Number(match[2]));
  }
  return { recap, outOfServiceMs };
}

/**
 * ansible-playbook <playbook> against `hosts`, timed from spawn to exit. Each run
 * gets its own control-socket directory, so no run rides on connections an
 * earlier one left open (memplay opens its own for every run too).
 */
export async function runAnsible(
  setup: AnsibleSetup,
  lab: Lab,
  hosts: readonly LabHost[],
  playbook: string,
  options: {
    check?: boolean;
    label: string;
    timeoutMs?: number;
    extraVars?: Readonly<Record<string, string>>;
    /** cpu-account.ts: the group ansible-playbook joins before it starts. */
    cgroupProcs?: string;
  },
): Promise<AnsibleRun> {
  const runDir = join(setup.dir, options.label);
  await rm(runDir, { recursive: true, force: true });
  await mkdir(join(runDir, 'cp'), { recursive: true });
  const cfg = join(runDir, 'ansible.cfg');
  const inventoryFile = join(runDir, 'inventory.yml');
  await writeFile(cfg, ansibleCfg(lab, setup.forks, join(runDir, 'cp')));
  await writeFile(inventoryFile, inventory(lab, hosts));
  const extraVars = Object.entries(options.extraVars ?? {}).flatMap(([key, value]) => [
    '-e',
    `${key}=${value}`,
  ]);
  const args = [
    '-i',
    inventoryFile,
    join(setup.playbooks, playbook),
    ...(options.check ? ['--check'] : []),
    ...extraVars,
  ];
  const finished = await runProgram(ansiblePlaybook, args, {
    cwd: runDir,
    timeoutMs: options.timeoutMs ?? 900_000,
    ...(options.cgroupProcs && { cgroupProcs: options.cgroupProcs }),
    env: {
      ...process.env,
      ANSIBLE_CONFIG: cfg,
      ANSIBLE_HOST_KEY_CHECKING: 'True',
      ANSIBLE_NOCOLOR: '1',
      ANSIBLE_FORCE_COLOR: '0',
    },
  });
  const output = `${finished.stdout}\n${finished.stderr}`;
  await writeFile(join(runDir, 'output.log'), output);
  return { wallMs: finished.wallMs, exitCode: finished.code, output, ...parseAnsibleOutput(finished.stdout) };
}

/** Throws unless every host ended with failed=0 and unreachable=0. */
export function expectAnsibleOk(run: AnsibleRun, hosts: readonly LabHost[], what: string): void {
  const bad = hosts.filter((h) => {
    const counts = run.recap.get(h.name);
    return !counts || (counts.failed ?? 0) > 0 || (counts.unreachable ?? 0) > 0;
  });
  if (run.exitCode !== 0 || bad.length > 0) {
    throw new Error(
      `${what}: ansible-playbook exited ${run.exitCode}; hosts not ok: ${bad.map((h) => h.name).join(', ') || 'none'}\n${run.output.trim().slice(-2000)}`,
    );
  }
}
