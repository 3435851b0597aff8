import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Lab, LabHost } from '../../test/lab/index.js';
import { ensureBuild, resetHost, writeFleetPlaybook } from '../../test/lab/index.js';
import { generateItems, loopbackConnection } from '../../test/lab/items/generator.js';
import { type CacheState, cacheState } from '../bench/steps.js';
import { type AnsibleRun, type AnsibleSetup, expectAnsibleOk, runAnsible } from './ansible.js';
import { expectMemplayOk, type MemplayRun, memplayApply } from './memplay.js';
import { type SideCpu, withSideCpu } from './side-cpu.js';

// The three comparisons. Setup (loading items, copying builds, resets) is
// never inside a timed span; each timed span is one process from spawn to exit.

export interface FleetBench {
  readonly lab: Lab;
  readonly ansible: AnsibleSetup;
  readonly workDir: string;
  readonly forks: number;
  readonly log: (message: string) => void;
}

export interface DataSetSize {
  readonly count: number;
  readonly totalBytes: number;
}

const SEED = 1201;

function firstHosts(bench: FleetBench, n: number): LabHost[] {
  if (n > bench.lab.hosts.length)
    throw new Error(`bench: ${n} hosts asked for, the lab has ${bench.lab.hosts.length}`);
  return bench.lab.hosts.slice(0, n);
}

/** A playbook over host1..hostN whose backups land in the bench's own folder. */
function fleetPlaybook(bench: FleetBench, n: number, serial = 1): Promise<string> {
  return writeFleetPlaybook(bench.lab, {
    hosts: Array.from({ length: n }, (_, i) => i + 1),
    serial,
    backupDir: join(bench.workDir, 'backups'),
  });
}

async function dropBackups(bench: FleetBench): Promise<void> {
  await rm(join(bench.workDir, 'backups'), { recursive: true, force: true });
}

/** Every listed host back to baseline (only 1.6.18 under its prefix, running). */
export async function resetHosts(bench: FleetBench, hosts: readonly LabHost[]): Promise<void> {
  // resetHost is per host; resetLab would rewrite the lab's known_hosts for a subset.
  for (let at = 0; at < hosts.length; at += 10) {
    await Promise.all(hosts.slice(at, at + 10).map((h) => resetHost(bench.lab, h.index)));
  }
  await dropBackups(bench);
}

export interface CheckRun {
  readonly hosts: number;
  readonly memplay: MemplayRun;
  /** Only for the sizes the Ansible comparison runs at. */
  readonly ansible?: AnsibleRun;
}

/** 1 and 4: `memplay apply --check` per fleet size (wall time, peak RSS), against `prepare.yml --check`. */
export async function checkRuns(
  bench: FleetBench,
  sizes: readonly number[],
  ansibleSizes: readonly number[],
): Promise<CheckRun[]> {
  const runs: CheckRun[] = [];
  for (const n of sizes) {
    const hosts = firstHosts(bench, n);
    bench.log(`1. --check over ${n} hosts: memplay`);
    const memplay = await memplayApply(bench.lab, await fleetPlaybook(bench, n), {
      check: true,
      forks: bench.forks,
    });
    expectMemplayOk(memplay, `memplay apply --check over ${n} hosts`);
    let ansible: AnsibleRun | undefined;
    if (ansibleSizes.includes(n)) {
      bench.log(`1. --check over ${n} hosts: ansible-playbook prepare.yml --check`);
      ansible = await runAnsible(bench.ansible, bench.lab, hosts, 'prepare.yml', {
        check: true,
        label: `check-${n}`,
      });
      expectAnsibleOk(ansible, hosts, `ansible-playbook --check over ${n} hosts`);
    }
    runs.push({ hosts: n, memplay, ...(ansible && { ansible }) });
  }
  return runs;
}

export interface NoopRun {
  readonly hosts: number;
  readonly memplay: MemplayRun;
  readonly ansible: AnsibleRun;
}

/** 1: both tools re-run over a fleet already on the target: nothing to do, all of it checked. */
export async function noopRun(bench: FleetBench, n: number): Promise<NoopRun> {
  const hosts = firstHosts(bench, n);
  bench.log(`1. no-op: upgrading ${n} empty hosts first (cached build copied, not timed)`);
  await Promise.all(hosts.map((h) => ensureBuild(h, bench.lab.targetVersion)));
  const setup = await memplayApply(bench.lab, await fleetPlaybook(bench, n, n), { forks: bench.forks });
  expectMemplayOk(setup, `the no-op step's set-up apply over ${n} hosts`);
  await dropBackups(bench);
  try {
    bench.log(`1. no-op over ${n} hosts: memplay apply`);
    const memplay = await memplayApply(bench.lab, await fleetPlaybook(bench, n), { forks: bench.forks });
    expectMemplayOk(memplay, `memplay no-op apply over ${n} hosts`);
    bench.log(`1. no-op over ${n} hosts: ansible-playbook upgrade.yml`);
    const ansible = await runAnsible(bench.ansible, bench.lab, hosts, 'upgrade.yml', { label: `noop-${n}` });
    expectAnsibleOk(ansible, hosts, `ansible-playbook no-op over ${n} hosts`);
    return { hosts: n, memplay, ansible };
  } finally {
    bench.log(`1. no-op: ${n} hosts back to baseline`);
    await resetHosts(bench, hosts);
  }
}

export interface HostAfter {
  readonly host: string;
  readonly before: CacheState;
  readonly after: CacheState;
  readonly outOfServiceMs: number | null;
}

export interface UpgradeSide {
  readonly wallMs: number;
  readonly hosts: readonly HostAfter[];
  /** Undefined where cgroup v2 is not writable (side-cpu.ts). */
  readonly cpu?: SideCpu;
}

export interface UpgradeRun {
  readonly hosts: number;
  readonly dataSet: DataSetSize;
  readonly loadMs: number;
  readonly memplay: UpgradeSide;
  readonly ansible: UpgradeSide;
  /** memplay's task durations per host, in ms. */
  readonly memplayTaskMs: ReadonlyMap<string, Readonly<Record<string, number>>>;
}

async function loadHosts(hosts: readonly LabHost[], size: DataSetSize): Promise<number> {
  const started = performance.now();
  await Promise.all(
    hosts.map((h) =>
      generateItems(loopbackConnection(h.memcachedPort), {
        seed: SEED + h.index,
        count: size.count,
        totalBytes: size.totalBytes,
      }),
    ),
  );
  return performance.now() - started;
}

async function sideResult(
  hosts: readonly LabHost[],
  before: readonly CacheState[],
  wallMs: number,
  outOfService: ReadonlyMap<string, number>,
  cpu: SideCpu | undefined,
): Promise<UpgradeSide> {
  return {
    wallMs,
    ...(cpu && { cpu }),
    hosts: await Promise.all(
      hosts.map(async (h, i) => ({
        host: h.name,
        before: before[i] as CacheState,
        after: await cacheState(h.memcachedPort),
        outOfServiceMs: outOfService.get(h.name) ?? null,
      })),
    ),
  };
}

/** 2 and 3: the full rolling upgrade, compile included, each tool from the same baseline and data. */
export async function upgradeRun(bench: FleetBench, n: number, size: DataSetSize): Promise<UpgradeRun> {
  const hosts = firstHosts(bench, n);
  const ready = async (side: string) => {
    bench.log(
      `2. ${side}: ${n} hosts to baseline, loading ${size.count} items / ${size.totalBytes / 1e6} MB each`,
    );
    await resetHosts(bench, hosts);
    const loadMs = await loadHosts(hosts, size);
    return { loadMs, before: await Promise.all(hosts.map((h) => cacheState(h.memcachedPort))) };
  };

  const memplayStart = await ready('memplay');
  bench.log(`2. memplay apply over ${n} hosts (serial 1, build from source)`);
  const playbook = await fleetPlaybook(bench, n);
  const { result: memplay, cpu: memplayCpu } = await withSideCpu(
    'memplay',
    hosts,
    (cgroupProcs) =>
      memplayApply(bench.lab, playbook, { forks: bench.forks, ...(cgroupProcs && { cgroupProcs }) }),
    (run) => run.taskSpans,
  );
  expectMemplayOk(memplay, `memplay upgrade over ${n} hosts`);
  const memplaySide = await sideResult(
    hosts,
    memplayStart.before,
    memplay.wallMs,
    memplay.outOfServiceMs,
    memplayCpu,
  );

  const ansibleStart = await ready('ansible');
  bench.log(`2. ansible-playbook upgrade.yml over ${n} hosts (serial 1, build from source)`);
  const { result: ansible, cpu: ansibleCpu } = await withSideCpu('ansible', hosts, (cgroupProcs) =>
    runAnsible(bench.ansible, bench.lab, hosts, 'upgrade.yml', {
      label: `upgrade-${n}`,
      ...(cgroupProcs && { cgroupProcs }),
    }),
  );
  expectAnsibleOk(ansible, hosts, `ansible-playbook upgrade over ${n} hosts`);
  const ansibleSide = await sideResult(
    hosts,
    ansibleStart.before,
    ansible.wallMs,
    ansible.outOfServiceMs,
    ansibleCpu,
  );

  return {
    hosts: n,
    dataSet: size,
    loadMs: memplayStart.loadMs,
    memplay: memplaySide,
    ansible: ansibleSide,
    memplayTaskMs: memplay.taskMs,
  };
}
