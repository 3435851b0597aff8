import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { readLab, writeFleetPlaybook } from '../test/lab/index.js';
import { runBench } from './bench/entry.js';
import type { AnsibleSetup } from './bench-fleet/ansible.js';
import { exactHosts, loadItems } from './bench-fleet/big.js';
import { countCompiles } from './bench-fleet/compiles.js';
import { expectMemplayOk, memplayApply } from './bench-fleet/memplay.js';
import { type FleetBench, resetHosts } from './bench-fleet/steps.js';

// `node dist/scripts/apply-memory.js --hosts 12,24,36`: the controller's peak RSS
// of a full `memplay apply` (the 500-host section's shape: serial 10%, one build
// from source shipped to the rest, 1,000 items a host) at several fleet sizes of
// the running lab, and the slope in MB per host between the smallest and the
// largest: what `bench:fleet --big` measures at 500 hosts, at sizes a shared
// machine can repeat in minutes. Every host ends exact or the script fails.

function log(message: string): void {
  process.stderr.write(`apply-memory: ${message}\n`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      hosts: { type: 'string', default: '12,24,36' },
      forks: { type: 'string', default: '50' },
      items: { type: 'string', default: '1000' },
      // Node options for the memplay process alone, e.g. --heapsnapshot-signal=SIGUSR2.
      'node-options': { type: 'string' },
    },
  });
  const sizes = values.hosts.split(',').map(Number);
  const forks = Number(values.forks);
  const items = Number(values.items);
  const lab = await readLab();
  if (!lab) throw new Error('apply-memory: no lab; run `npm run lab:up -- --hosts N` first');
  if (sizes.some((n) => !Number.isInteger(n) || n < 1 || n > lab.hosts.length)) {
    throw new Error(`apply-memory: --hosts takes sizes from 1 to ${lab.hosts.length} (the lab's hosts)`);
  }
  const workDir = join(lab.dir, 'apply-memory');
  // Only what resetHosts and bigPlaybook read: no Ansible here.
  const bench: FleetBench = { lab, ansible: {} as AnsibleSetup, workDir, forks, log };
  const rows: { n: number; rssMb: number; load: string }[] = [];
  for (const n of sizes) {
    const hosts = lab.hosts.slice(0, n);
    await resetHosts(bench, hosts);
    const before = await loadItems(hosts, items);
    // The big section's playbook, with the performance gate's thresholds wide open: it
    // still measures every host's old and new side, but this machine's load (shared
    // with other runs) is not a reason to roll a host back in a memory measurement.
    const playbook = await writeFleetPlaybook(lab, {
      hosts: hosts.map((h) => h.index),
      serial: '10%',
      backupDir: join(workDir, 'backups'),
      verify: { min_throughput_ratio: 0, max_latency_regression: '100000%' },
    });
    const loadBefore = loadavg()[0] ?? 0;
    const nodeOptions = values['node-options'];
    const run = await memplayApply(lab, playbook, {
      forks,
      timeoutMs: 3_600_000,
      ...(nodeOptions && { env: { ...process.env, NODE_OPTIONS: nodeOptions } }),
    });
    const load = `${loadBefore.toFixed(1)}→${(loadavg()[0] ?? 0).toFixed(1)}`;
    expectMemplayOk(run, `memplay apply over ${n} hosts`);
    const differences: string[] = [];
    const exact = await exactHosts(hosts, lab.targetVersion, before, differences);
    if (exact !== n) throw new Error(`apply-memory: ${exact}/${n} hosts exact\n${differences.join('\n')}`);
    const rssMb = run.peakRssBytes / 1e6;
    rows.push({ n, rssMb, load });
    log(
      `${n} hosts: peak RSS ${rssMb.toFixed(1)} MB, ${(run.wallMs / 1000).toFixed(0)} s, load ${load}, ${countCompiles(run.buildDetails)} compile(s), ${exact}/${n} exact`,
    );
  }
  await resetHosts(bench, lab.hosts.slice(0, Math.max(...sizes)));
  const first = rows[0];
  const last = rows.at(-1);
  for (const row of rows) process.stdout.write(`${row.n}\t${row.rssMb.toFixed(1)} MB\tload ${row.load}\n`);
  if (first && last && last.n > first.n) {
    const slope = (last.rssMb - first.rssMb) / (last.n - first.n);
    process.stdout.write(`slope ${slope.toFixed(2)} MB/host (${first.n}→${last.n} hosts)\n`);
  }
  return 0;
}

runBench(main, log);
