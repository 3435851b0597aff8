import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { forEachLimited } from '../test/lab/concurrency.js';
import { type Lab, readLab, resetHost, writeFleetPlaybook } from '../test/lab/index.js';
import { CpuAccount, cpuBetween } from './bench/cpu-account.js';
import { loadItems } from './bench-fleet/big.js';
import { expectMemplayOk, memplayApply } from './bench-fleet/memplay.js';
import { cpuByTask, pidIn } from './bench-fleet/side-cpu.js';

// `node dist/scripts/batch-cpu.js --hosts 50 --items 1000`: where one rolling batch's
// CPU goes (issue 18). The lab's first N hosts go back to baseline (1.6.38's tree kept
// after the first run, so the prepare phase is facts and "already built"), get N items
// each, and are upgraded in one batch of N (serial N, forks N) while three cgroups
// count the machine's CPU: memplay's process, the hosts' sshd with all they start
// (shells, their commands), and memcached (a new one started by a shell is moved
// there within half a second). Printed: each group's CPU over the run and within each
// task's spans (the union over hosts). The lab must be up with at least N hosts.

async function comm(pid: string): Promise<string> {
  return (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      hosts: { type: 'string', default: '50' },
      items: { type: 'string', default: '1000' },
      serial: { type: 'string' },
      // A folder for memplay's V8 CPU profile (node --cpu-prof).
      'cpu-prof': { type: 'string' },
      // Then the same playbook again over the upgraded hosts: a no-op's CPU.
      noop: { type: 'boolean', default: false },
    },
  });
  const lab = await readLab();
  if (!lab) throw new Error('batch-cpu: no lab; run `npm run lab:up -- --hosts N` first');
  const count = Number(values.hosts);
  const hosts = lab.hosts.slice(0, count);
  if (hosts.length < count) throw new Error(`batch-cpu: the lab has ${lab.hosts.length} hosts, not ${count}`);
  const backupDir = join(lab.dir, 'batch-cpu', 'backups');
  await forEachLimited(hosts, 10, (h) => resetHost(lab, h.index, ['1.6.38']));
  await rm(backupDir, { recursive: true, force: true });
  await loadItems(hosts, Number(values.items));
  const playbook = await writeFleetPlaybook(lab, {
    hosts: hosts.map((h) => h.index),
    serial: values.serial ?? count,
    backupDir,
  });

  await measured(lab, playbook, count, 'upgrade', values['cpu-prof']);
  if (values.noop) await measured(lab, playbook, count, 'no-op re-run', values['cpu-prof']);
}

/** One `memplay apply` with the three groups counting; prints where the CPU went. */
async function measured(
  lab: Lab,
  playbook: string,
  forks: number,
  label: string,
  profile: string | undefined,
): Promise<void> {
  const groups = {
    memplay: await CpuAccount.open('batch-memplay'),
    sshd: await CpuAccount.open('batch-sshd'),
    memcached: await CpuAccount.open('batch-memcached'),
  };
  const { memplay, sshd, memcached } = groups;
  if (!memplay || !sshd || !memcached) throw new Error('batch-cpu: cgroup v2 is not writable here');
  const hosts = lab.hosts.slice(0, forks);
  // Each pid's name is read once: the group holds every sshd listener, and reading
  // 500 names twice a second would cost the machine what this script measures.
  const looked = new Set<string>();
  const sweep = setInterval(() => {
    void (async () => {
      const pids = (await readFile(sshd.procsFile, 'utf8').catch(() => '')).split('\n').filter(Boolean);
      for (const pid of pids) {
        if (looked.has(pid)) continue;
        looked.add(pid);
        if ((await comm(pid)) === 'memcached')
          await writeFile(memcached.procsFile, `${pid}\n`).catch(() => {});
      }
    })();
  }, 500);
  try {
    const sshdPids = await Promise.all(hosts.map((h) => pidIn(join(h.sshdDir, 'sshd.pid'))));
    const memcachedPids = await Promise.all(hosts.map((h) => pidIn(h.pidfile)));
    await sshd.adopt(sshdPids.filter((p): p is number => p !== undefined));
    await memcached.adopt(memcachedPids.filter((p): p is number => p !== undefined));
    for (const g of [memplay, sshd, memcached]) g.startSampling(1000);
    const run = await memplayApply(lab, playbook, {
      forks: Math.min(forks, 50),
      cgroupProcs: memplay.procsFile,
      timeoutMs: 3_600_000,
      ...(profile && { nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profile}`] }),
    });
    for (const g of [memplay, sshd, memcached]) await g.stopSampling();
    const total = (g: CpuAccount) => {
      const first = g.samples[0];
      const last = g.samples[g.samples.length - 1];
      return first && last ? last.usedS - first.usedS : 0;
    };
    const spans = run.taskSpans;
    const starts = spans.filter((s) => s.task === 'backup').map((s) => s.fromMs);
    const ends = spans.filter((s) => s.task === 'verify').map((s) => s.toMs);
    const from = starts.length > 0 ? Math.min(...starts) : 0;
    const to = ends.length > 0 ? Math.max(...ends) : 0;
    process.stdout.write(
      `${label}, ${hosts.length} hosts: wall ${(run.wallMs / 1000).toFixed(1)} s, ` +
        `rolling phase (first backup to last verify) ${((to - from) / 1000).toFixed(1)} s, peak RSS ${(run.peakRssBytes / 1e6).toFixed(0)} MB\n`,
    );
    const tasks = [...new Set(spans.map((s) => s.task))];
    const rows: string[][] = [['CPU s', 'whole run', 'rolling', ...tasks]];
    for (const [name, g] of Object.entries({ memplay, sshd, memcached })) {
      const byTask = cpuByTask(g.samples, spans);
      rows.push([
        name,
        total(g).toFixed(1),
        cpuBetween(g.samples, from, to).toFixed(1),
        ...tasks.map((t) => (byTask[t] ?? 0).toFixed(1)),
      ]);
    }
    const median = (t: string) => {
      const d = spans
        .filter((s) => s.task === t)
        .map((s) => s.toMs - s.fromMs)
        .sort((a, b) => a - b);
      return ((d[Math.floor(d.length / 2)] ?? 0) / 1000).toFixed(1);
    };
    rows.push(['median wall s', '', '', ...tasks.map(median)]);
    for (const row of rows) process.stdout.write(`${row.map((c) => c.padStart(13)).join(' ')}\n`);
    expectMemplayOk(run, `batch-cpu ${label}`);
  } finally {
    clearInterval(sweep);
    for (const g of [memplay, sshd, memcached]) await g.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
