import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../../src/errors.js';
import type { HostRecap } from '../../src/report/events.js';
import type { Lab, LabHost } from '../../test/lab/index.js';
import { restartWithMemory } from '../bench/lab-host.js';
import { type AnsibleSetup, expectAnsibleOk, runAnsible } from '../bench-fleet/ansible.js';
import { baselineArgs, type CacheSize, prepareHost } from './hosts.js';
import { applyLive, type SwapTaken } from './memplay.js';
import { livePlaybook } from './playbook.js';
import { type HostTraffic, type TrafficSettings, underTraffic } from './under-traffic.js';

// The rows of the live bench: one data path each, run over the same hosts,
// cache and traffic. memplay's three paths run `memplay apply` (serial 1); the
// plain restart and the Ansible play are the scale they are read against.

export type PathName = 'cold' | 'warm' | 'handover' | 'restart' | 'ansible';
export const allPaths: readonly PathName[] = ['cold', 'warm', 'handover', 'restart', 'ansible'];

/** A warm restart needs a memory file format both builds share: 1.6.18 → 1.6.45 (as in the e2e test). */
export const warmTarget = '1.6.45';

export interface LiveBench {
  readonly lab: Lab;
  readonly workDir: string;
  readonly ansible: AnsibleSetup;
  readonly traffic: TrafficSettings;
  readonly log: (message: string) => void;
}

export interface HostRow extends HostTraffic {
  /** The host's entry in memplay's recap (memplay's paths only). */
  readonly recap: HostRecap | null;
  /** memplay's swap event for the host: why it took the path it took. */
  readonly swap: SwapTaken | null;
  /** restart: stop → answering, timed by the bench; ansible: kill → dump restored, from its debug task. */
  readonly ownWindowMs: number | null;
}

export interface PathRun {
  readonly path: PathName;
  readonly size: CacheSize;
  readonly from: string;
  readonly to: string;
  /** The upgrade alone (memplay, the restarts, ansible-playbook), from start to end. */
  readonly wallMs: number;
  readonly hosts: readonly HostRow[];
  /** What the tool reported as failed: a finding (MISS), not a broken bench. */
  readonly failures: readonly string[];
}

const SEED = 1201;
const toolTimeoutMs = 20 * 60_000;

function targetVersion(lab: Lab, path: PathName): string {
  if (path === 'warm') return warmTarget;
  return path === 'restart' ? lab.baselineVersion : lab.targetVersion;
}

function failureOf(check: () => void): string[] {
  try {
    check();
    return [];
  } catch (error) {
    return [errorMessage(error)];
  }
}

interface Upgrade {
  readonly failures: readonly string[];
  readonly recap: (host: LabHost) => HostRecap | null;
  readonly swap: (host: LabHost) => SwapTaken | null;
  readonly ownWindowMs: (host: LabHost) => number | null;
}

async function memplayUpgrade(
  bench: LiveBench,
  hosts: readonly LabHost[],
  path: 'cold' | 'warm' | 'handover',
  size: CacheSize,
): Promise<() => Promise<Upgrade>> {
  const warm = path === 'warm';
  const playbook = await livePlaybook(
    bench.lab,
    hosts,
    {
      version: targetVersion(bench.lab, path),
      swapMode: path,
      serial: 1,
      backupDir: join(bench.workDir, 'backups'),
      ...(!warm && { memcachedArgs: ['-l', '127.0.0.1', '-m', String(size.memoryMb)] }),
    },
    warm ? (h) => baselineArgs(h, size, true) : undefined,
  );
  return async () => {
    bench.log(`${path}: memplay apply ${playbook}`);
    const run = await applyLive(bench.lab.repoRoot, playbook, toolTimeoutMs);
    return {
      failures: run.failures,
      recap: (host) => run.recap[host.name] ?? null,
      swap: (host) => run.swaps.get(host.name) ?? null,
      ownWindowMs: () => null,
    };
  };
}

function restartUpgrade(
  bench: LiveBench,
  hosts: readonly LabHost[],
  size: CacheSize,
): () => Promise<Upgrade> {
  return async () => {
    const windows = new Map<string, number>();
    for (const host of hosts) {
      bench.log(`restart: ${host.name} stopped and started empty`);
      const started = performance.now();
      await restartWithMemory(host, size.memoryMb);
      windows.set(host.name, performance.now() - started);
    }
    return {
      failures: [],
      recap: () => null,
      swap: () => null,
      ownWindowMs: (host) => windows.get(host.name) ?? null,
    };
  };
}

function ansibleUpgrade(bench: LiveBench, hosts: readonly LabHost[]): () => Promise<Upgrade> {
  return async () => {
    bench.log('ansible: ansible-playbook rolling.yml (serial 1)');
    const run = await runAnsible(bench.ansible, bench.lab, hosts, 'rolling.yml', {
      label: 'live-rolling',
      timeoutMs: toolTimeoutMs,
    });
    return {
      failures: failureOf(() => expectAnsibleOk(run, hosts, 'ansible-playbook rolling.yml')),
      recap: () => null,
      swap: () => null,
      ownWindowMs: (host) => run.outOfServiceMs.get(host.name) ?? null,
    };
  };
}

/** One row: the hosts prepared and loaded, then upgraded under traffic. */
export async function runPath(
  bench: LiveBench,
  path: PathName,
  hosts: readonly LabHost[],
  size: CacheSize,
): Promise<PathRun> {
  const { lab } = bench;
  const to = targetVersion(lab, path);
  bench.log(`${path}: ${hosts.length} host(s) to ${lab.baselineVersion}, loading the cache`);
  await Promise.all(
    hosts.map((h) =>
      prepareHost(
        lab,
        h,
        baselineArgs(h, size, path === 'warm'),
        path === 'restart' ? [] : [to],
        size,
        SEED + h.index,
      ),
    ),
  );
  const upgrade =
    path === 'restart'
      ? restartUpgrade(bench, hosts, size)
      : path === 'ansible'
        ? ansibleUpgrade(bench, hosts)
        : await memplayUpgrade(bench, hosts, path, size);
  bench.log(`${path}: traffic at ${bench.traffic.opsPerSecond} ops/s on each host, upgrading`);
  let wallMs = 0;
  try {
    const measured = await underTraffic(hosts, bench.traffic, async () => {
      const started = performance.now();
      const result = await upgrade();
      wallMs = performance.now() - started;
      return result;
    });
    const { result } = measured;
    return {
      path,
      size,
      from: lab.baselineVersion,
      to,
      wallMs,
      hosts: measured.hosts.map((h) => ({
        ...h,
        recap: result.recap(h.host),
        swap: result.swap(h.host),
        ownWindowMs: result.ownWindowMs(h.host),
      })),
      failures: result.failures,
    };
  } finally {
    await rm(join(bench.workDir, 'backups'), { recursive: true, force: true });
  }
}
