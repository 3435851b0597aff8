import { loadavg } from 'node:os';
import { join } from 'node:path';
import { forEachLimited } from '../../test/lab/concurrency.js';
import type { LabHost } from '../../test/lab/index.js';
import { memcachedVersion, writeFleetPlaybook } from '../../test/lab/index.js';
import {
  compareDigests,
  digestItems,
  generateItems,
  type ItemDigest,
  loopbackConnection,
} from '../../test/lab/items/generator.js';
import { runProgram } from '../bench/process.js';
import { type AnsibleRun, expectAnsibleOk, runAnsible } from './ansible.js';
import { countCompiles } from './compiles.js';
import { expectMemplayOk, type MemplayRun, memplayApply } from './memplay.js';
import { type FleetBench, resetHosts } from './steps.js';

// The 500-host section (issue 18): over N lab hosts at one forks setting, memplay
// and Ansible side by side: facts, --check, a full rolling upgrade with serial
// 10% and 1,000 items a host, then a no-op re-run over the upgraded fleet. Every
// timed span is one process from spawn to exit; loading items, digests and resets
// are outside them. Each figure is logged as soon as it is known, so a run cut
// short still leaves the ones it reached.

/** The section's comparisons; the no-op runs over the fleet the upgrade left, so it comes with `upgrade`. */
export type BigStep = 'facts' | 'check' | 'upgrade';
/** Ansible's rolling upgrade (and its no-op re-run) over 500 hosts passes an hour here. */
const ansibleUpgradeTimeoutMs = 3 * 3_600_000;

export const bigSteps: readonly BigStep[] = ['facts', 'check', 'upgrade'];

export interface BigOptions {
  readonly hosts: number;
  readonly forks: number;
  readonly items: number;
  readonly steps: ReadonlySet<BigStep>;
  /**
   * false (`--big-ansible no`): memplay's side alone, to measure a change of
   * memplay's against Ansible's figures of an earlier run (Ansible takes most of
   * the section's time: its --check alone ~27 min at 500 hosts here).
   */
  readonly ansible: boolean;
  /**
   * false (`--big-memplay no`): the upgrade step's Ansible side alone (its
   * upgrade and no-op), against memplay's figures of an earlier run.
   */
  readonly memplay: boolean;
}

/** The 1-minute load average when a timed span began and ended: the machine is shared. */
export interface Load {
  readonly before: number;
  readonly after: number;
}

export interface Pair {
  /** Left out with `--big-memplay no` (upgrade and no-op only). */
  readonly memplayMs?: number;
  readonly memplayLoad?: Load;
  /** Left out with `--big-ansible no`. */
  readonly ansible?: { readonly ms: number; readonly load: Load };
  /** memplay's recap (apply only; facts prints none). */
  readonly memplayPeakRssBytes?: number;
}

export interface BigUpgrade extends Pair {
  /** Hosts whose build task compiled (memplay's events) — one for the whole fleet is the target. */
  readonly memplayCompiles?: number;
  /** Hosts on the target version with every item's value, flags and expiry as loaded. */
  readonly memplayExact?: number;
  /** Left out with `--big-ansible no`. */
  readonly ansibleExact?: number;
  /** First differences, for the report when a host is not exact. */
  readonly differences: readonly string[];
}

export interface BigResults {
  readonly options: BigOptions;
  facts?: Pair;
  check?: Pair;
  upgrade?: BigUpgrade;
  noop?: Pair;
}

const SEED = 5001;
const load1 = () => loadavg()[0] ?? 0;

async function timed<T extends { wallMs: number }>(run: () => Promise<T>): Promise<{ run: T; load: Load }> {
  const before = load1();
  const result = await run();
  return { run: result, load: { before, after: load1() } };
}

function bigPlaybook(bench: FleetBench, hosts: readonly LabHost[], serial: number | string): Promise<string> {
  return writeFleetPlaybook(bench.lab, {
    hosts: hosts.map((h) => h.index),
    serial,
    backupDir: join(bench.workDir, 'backups'),
  });
}

async function memplayFacts(bench: FleetBench, playbook: string): Promise<{ wallMs: number }> {
  const args = ['facts', playbook, '--output', 'json', '--forks', String(bench.forks)];
  const finished = await runProgram(join(bench.lab.repoRoot, 'bin', 'memplay.js'), args, {
    cwd: bench.lab.repoRoot,
    timeoutMs: 1_800_000,
  });
  if (finished.code !== 0) {
    // The hosts that were not read, rather than the tail of 500 facts lines.
    const unread = finished.stdout
      .split('\n')
      .filter((line) => line !== '' && !line.includes('"event":"facts"'));
    throw new Error(
      `memplay facts exited ${finished.code}\n${unread.slice(0, 10).join('\n')}\n${finished.stderr.slice(-1500)}`,
    );
  }
  return finished;
}

export async function loadItems(
  hosts: readonly LabHost[],
  items: number,
): Promise<Map<string, Map<string, ItemDigest>>> {
  const digests = new Map<string, Map<string, ItemDigest>>();
  await forEachLimited(hosts, 25, async (h) => {
    const factory = loopbackConnection(h.memcachedPort);
    await generateItems(factory, { seed: SEED + h.index, count: items, totalBytes: items * 1000 });
    digests.set(h.name, await digestItems(factory));
  });
  return digests;
}

/** Hosts on `version` whose items match what was loaded, and the first few differences. */
export async function exactHosts(
  hosts: readonly LabHost[],
  version: string,
  before: ReadonlyMap<string, Map<string, ItemDigest>>,
  differences: string[],
): Promise<number> {
  let exact = 0;
  await forEachLimited(hosts, 25, async (h) => {
    const running = await memcachedVersion(h.memcachedPort);
    const diff =
      running === version
        ? compareDigests(
            before.get(h.name) ?? new Map(),
            await digestItems(loopbackConnection(h.memcachedPort)),
          )
        : [`runs ${running ?? 'nothing'}, not ${version}`];
    if (diff.length === 0) exact++;
    else if (differences.length < 10)
      differences.push(`${h.name}: ${diff.length} difference(s), first ${diff[0]?.slice(0, 120)}`);
  });
  return exact;
}

function compiles(run: MemplayRun): number {
  return countCompiles(run.buildDetails);
}

function pairOf(
  memplay: { run: { wallMs: number }; load: Load } | undefined,
  ansible: { run: AnsibleRun; load: Load } | undefined,
  peakRss?: number,
): Pair {
  return {
    ...(memplay && { memplayMs: memplay.run.wallMs, memplayLoad: memplay.load }),
    ...(ansible && { ansible: { ms: ansible.run.wallMs, load: ansible.load } }),
    ...(peakRss !== undefined && { memplayPeakRssBytes: peakRss }),
  };
}

function logPair(bench: FleetBench, what: string, pair: Pair): void {
  const rss = pair.memplayPeakRssBytes
    ? `, memplay peak RSS ${(pair.memplayPeakRssBytes / 1e6).toFixed(0)} MB`
    : '';
  const { ansible, memplayMs, memplayLoad } = pair;
  const ratio = ansible && memplayMs !== undefined ? `, ratio ${(memplayMs / ansible.ms).toFixed(3)}` : '';
  const ansiblePart = ansible
    ? `Ansible ${(ansible.ms / 1000).toFixed(1)}s (load ${ansible.load.before.toFixed(1)}→${ansible.load.after.toFixed(1)})${ratio}`
    : 'Ansible not run (--big-ansible no)';
  const memplayPart =
    memplayMs !== undefined && memplayLoad
      ? `memplay ${(memplayMs / 1000).toFixed(1)}s (load ${memplayLoad.before.toFixed(1)}→${memplayLoad.after.toFixed(1)})`
      : 'memplay not run (--big-memplay no)';
  bench.log(`big: ${what}: ${memplayPart}, ${ansiblePart}${rss}`);
}

/**
 * Runs the section's four comparisons into `results` as each finishes (so the
 * caller's step recorder keeps what was reached when a later one breaks), and
 * leaves the hosts at baseline.
 */
export async function bigRun(bench: FleetBench, options: BigOptions, results: BigResults): Promise<void> {
  const hosts = bench.lab.hosts.slice(0, options.hosts);
  const n = hosts.length;
  const tenPercent = '10%';
  // Ansible's side of a comparison, or nothing with --big-ansible no.
  const ansibleSide = (run: () => Promise<AnsibleRun>) =>
    options.ansible ? timed(run) : Promise.resolve(undefined);
  bench.log(`big: ${n} hosts to baseline`);
  await resetHosts(bench, hosts);
  const factsPlaybook = await bigPlaybook(bench, hosts, tenPercent);

  if (options.steps.has('facts')) {
    bench.log(`big: facts over ${n} hosts`);
    const memplayFactsRun = await timed(() => memplayFacts(bench, factsPlaybook));
    const ansibleFactsRun = await ansibleSide(() =>
      runAnsible(bench.ansible, bench.lab, hosts, 'gather.yml', {
        label: `big-facts-${n}`,
        timeoutMs: 3_600_000,
      }),
    );
    if (ansibleFactsRun) expectAnsibleOk(ansibleFactsRun.run, hosts, `ansible gather play over ${n} hosts`);
    results.facts = pairOf(memplayFactsRun, ansibleFactsRun);
    logPair(bench, 'facts', results.facts);
  }

  if (options.steps.has('check')) {
    bench.log(`big: --check over ${n} hosts`);
    const memplayCheck = await timed(() =>
      memplayApply(bench.lab, factsPlaybook, { check: true, forks: bench.forks, timeoutMs: 1_800_000 }),
    );
    expectMemplayOk(memplayCheck.run, `memplay apply --check over ${n} hosts`);
    const ansibleCheck = await ansibleSide(() =>
      runAnsible(bench.ansible, bench.lab, hosts, 'prepare.yml', {
        check: true,
        label: `big-check-${n}`,
        timeoutMs: 3_600_000,
      }),
    );
    if (ansibleCheck)
      expectAnsibleOk(ansibleCheck.run, hosts, `ansible-playbook prepare.yml --check over ${n} hosts`);
    results.check = pairOf(memplayCheck, ansibleCheck, memplayCheck.run.peakRssBytes);
    logPair(bench, '--check', results.check);
  }

  if (!options.steps.has('upgrade')) return;
  const differences: string[] = [];
  let memplayUpgrade: { run: MemplayRun; load: Load } | undefined;
  let memplayNoop: { run: MemplayRun; load: Load } | undefined;
  let memplayExact: number | undefined;
  if (options.memplay) {
    bench.log(`big: loading ${options.items} items on each of ${n} hosts (not timed)`);
    const memplayBefore = await loadItems(hosts, options.items);
    bench.log(`big: memplay apply over ${n} hosts (serial 10%, build from source)`);
    memplayUpgrade = await timed(() =>
      memplayApply(bench.lab, factsPlaybook, { forks: bench.forks, timeoutMs: 3_600_000 }),
    );
    expectMemplayOk(memplayUpgrade.run, `memplay upgrade over ${n} hosts`);
    memplayExact = await exactHosts(hosts, bench.lab.targetVersion, memplayBefore, differences);
    bench.log(
      `big: memplay upgrade: ${memplayExact}/${n} hosts exact, ${compiles(memplayUpgrade.run)} compile(s)`,
    );

    bench.log(`big: memplay no-op apply over ${n} upgraded hosts`);
    memplayNoop = await timed(() =>
      memplayApply(bench.lab, factsPlaybook, { forks: bench.forks, timeoutMs: 3_600_000 }),
    );
    expectMemplayOk(memplayNoop.run, `memplay no-op over ${n} hosts`);
  }

  let ansibleUpgrade: { run: AnsibleRun; load: Load } | undefined;
  let ansibleExact: number | undefined;
  let ansibleNoop: { run: AnsibleRun; load: Load } | undefined;
  if (options.ansible) {
    bench.log(`big: ${n} hosts back to baseline, loading ${options.items} items each (not timed)`);
    await resetHosts(bench, hosts);
    const ansibleBefore = await loadItems(hosts, options.items);
    const playbookOut = { playbook_dir_out: join(bench.ansible.dir, `big-upgrade-${n}`) };
    bench.log(`big: ansible-playbook upgrade-once.yml over ${n} hosts (serial 10%, compiled once)`);
    ansibleUpgrade = await timed(() =>
      runAnsible(bench.ansible, bench.lab, hosts, 'upgrade-once.yml', {
        label: `big-upgrade-${n}`,
        timeoutMs: ansibleUpgradeTimeoutMs,
        extraVars: { rolling_serial: tenPercent, ...playbookOut },
      }),
    );
    expectAnsibleOk(ansibleUpgrade.run, hosts, `ansible-playbook upgrade over ${n} hosts`);
    ansibleExact = await exactHosts(hosts, bench.lab.targetVersion, ansibleBefore, differences);
    bench.log(`big: Ansible upgrade: ${ansibleExact}/${n} hosts exact`);
    bench.log(`big: ansible-playbook no-op over ${n} upgraded hosts`);
    ansibleNoop = await timed(() =>
      runAnsible(bench.ansible, bench.lab, hosts, 'upgrade-once.yml', {
        label: `big-noop-${n}`,
        timeoutMs: ansibleUpgradeTimeoutMs,
        extraVars: { rolling_serial: tenPercent, playbook_dir_out: join(bench.ansible.dir, `big-noop-${n}`) },
      }),
    );
    expectAnsibleOk(ansibleNoop.run, hosts, `ansible-playbook no-op over ${n} hosts`);
  }
  results.upgrade = {
    ...pairOf(memplayUpgrade, ansibleUpgrade, memplayUpgrade?.run.peakRssBytes),
    ...(memplayUpgrade && { memplayCompiles: compiles(memplayUpgrade.run) }),
    ...(memplayExact !== undefined && { memplayExact }),
    ...(ansibleExact !== undefined && { ansibleExact }),
    differences,
  };
  logPair(bench, 'full upgrade', results.upgrade);
  results.noop = pairOf(memplayNoop, ansibleNoop, memplayNoop?.run.peakRssBytes);
  logPair(bench, 'no-op', results.noop);
}
