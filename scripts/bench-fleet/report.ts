import type { Machine } from '../bench/machine.js';
import { count, MB, ratio, seconds } from '../bench/units.js';
import type { AnsibleRun } from './ansible.js';
import type { BigResults } from './big.js';
import { renderBigSection } from './big-report.js';
import type { MemplayRun } from './memplay.js';
import type { CheckRun, NoopRun, UpgradeRun, UpgradeSide } from './steps.js';

// The fleet bench's output: one markdown document, figures, ratios, then each
// target with PASS or MISS (or "not measured" when a step broke or was left out).

export interface FleetResults {
  readonly machine: Machine;
  readonly settings: readonly string[];
  readonly otherLabUsers: readonly string[];
  readonly checks?: readonly CheckRun[];
  readonly noop?: NoopRun;
  readonly upgrade?: UpgradeRun;
  readonly big?: BigResults;
  readonly leftOut: readonly string[];
  readonly broken: readonly { readonly step: string; readonly message: string }[];
  readonly totalMs: number;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

const mib = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;

function memplayRecap(run: MemplayRun): string {
  const totals = { ok: 0, changed: 0, failed: 0 };
  for (const r of Object.values(run.hosts)) {
    totals.ok += r.ok;
    totals.changed += r.changed;
    totals.failed += r.failed;
  }
  return `ok=${totals.ok} changed=${totals.changed} failed=${totals.failed}`;
}

function ansibleRecap(run: AnsibleRun): string {
  const totals: Record<string, number> = { ok: 0, changed: 0, failed: 0, skipped: 0 };
  for (const counts of run.recap.values()) {
    for (const key of Object.keys(totals)) totals[key] = (totals[key] ?? 0) + (counts[key] ?? 0);
  }
  return `ok=${totals.ok} changed=${totals.changed} failed=${totals.failed} skipped=${totals.skipped}`;
}

interface Target {
  readonly name: string;
  readonly measured: string;
  readonly pass: boolean | undefined;
}

const notMeasured = (name: string): Target => ({ name, measured: 'not measured', pass: undefined });

/** Ansible's time over memplay's, held to `atLeast`. */
function speedTarget(name: string, memplayMs: number, ansibleMs: number, atLeast: number): Target {
  const times = ansibleMs / memplayMs;
  return {
    name,
    measured: `memplay ${seconds(memplayMs)}, Ansible ${seconds(ansibleMs)}: ${(memplayMs / ansibleMs).toFixed(2)} of Ansible's time (${ratio(times)} faster)`,
    pass: times >= atLeast,
  };
}

export interface RssSlope {
  readonly from: number;
  readonly to: number;
  readonly bytesPerHost: number;
}

export function rssSlopes(checks: readonly CheckRun[]): RssSlope[] {
  const sorted = [...checks].sort((a, b) => a.hosts - b.hosts);
  const slopes: RssSlope[] = [];
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1];
    const b = sorted[i];
    if (!a || !b) continue;
    slopes.push({
      from: a.hosts,
      to: b.hosts,
      bytesPerHost: (b.memplay.peakRssBytes - a.memplay.peakRssBytes) / (b.hosts - a.hosts),
    });
  }
  const first = sorted[0];
  const last = sorted[sorted.length - 1];
  if (first && last && sorted.length > 2) {
    slopes.push({
      from: first.hosts,
      to: last.hosts,
      bytesPerHost: (last.memplay.peakRssBytes - first.memplay.peakRssBytes) / (last.hosts - first.hosts),
    });
  }
  return slopes;
}

function targets(results: FleetResults): Target[] {
  const list: Target[] = [];
  const upgrade = results.upgrade;
  const upgradeName = '2. full rolling upgrade ≤ ¼ of the Ansible playbook’s time';
  list.push(
    upgrade
      ? speedTarget(upgradeName, upgrade.memplay.wallMs, upgrade.ansible.wallMs, 4)
      : notMeasured(upgradeName),
  );
  for (const check of results.checks ?? []) {
    if (!check.ansible) continue;
    list.push(
      speedTarget(
        `1. apply --check over ${check.hosts} hosts ≤ ⅓ of Ansible’s`,
        check.memplay.wallMs,
        check.ansible.wallMs,
        3,
      ),
    );
  }
  if (!results.checks?.some((c) => c.ansible)) list.push(notMeasured('1. apply --check ≤ ⅓ of Ansible’s'));
  const noop = results.noop;
  const noopName = `1. no-op apply over ${noop?.hosts ?? 'N'} hosts ≤ ⅓ of Ansible’s`;
  list.push(
    noop ? speedTarget(noopName, noop.memplay.wallMs, noop.ansible.wallMs, 3) : notMeasured(noopName),
  );
  const oosName = `3. out of service < 2 s per host at ${upgrade ? (upgrade.dataSet.totalBytes / MB).toFixed(0) : '?'} MB (memplay)`;
  if (upgrade) {
    const windows = upgrade.memplay.hosts.map((h) => h.outOfServiceMs);
    const worst = windows.some((w) => w === null) ? null : Math.max(...(windows as number[]));
    list.push({
      name: oosName,
      measured:
        worst === null
          ? 'a host reported no window'
          : `worst ${count(worst)} ms (${windows.map((w) => `${w} ms`).join(', ')})`,
      pass: worst === null ? false : worst < 2000,
    });
  } else list.push(notMeasured(oosName));
  const slopes = rssSlopes(results.checks ?? []);
  const overall = slopes[slopes.length - 1];
  const rssName = 'controller RSS grows < 5 MB per additional host';
  list.push(
    overall
      ? {
          name: rssName,
          measured: `${(overall.bytesPerHost / MB).toFixed(2)} MB/host (${overall.from} → ${overall.to} hosts)`,
          pass: slopes.every((s) => s.bytesPerHost < 5 * MB),
        }
      : notMeasured(rssName),
  );
  return list;
}

function checkSection(checks: readonly CheckRun[]): string {
  const rows = checks.map((c) => [
    String(c.hosts),
    seconds(c.memplay.wallMs),
    mib(c.memplay.peakRssBytes),
    memplayRecap(c.memplay),
    c.ansible ? seconds(c.ansible.wallMs) : '—',
    c.ansible ? ratio(c.ansible.wallMs / c.memplay.wallMs) : '—',
    c.ansible ? ansibleRecap(c.ansible) : '—',
  ]);
  const slopes = rssSlopes(checks)
    .map((s) => `${s.from} → ${s.to} hosts: ${(s.bytesPerHost / MB).toFixed(2)} MB per extra host`)
    .join('; ');
  return `## 1. \`apply --check\` per fleet size, and controller RSS

memplay: \`memplay apply <fleet> --check --output json\` (every task's read-only plan, both phases).
Ansible: \`ansible-playbook prepare.yml --check\` (running version over nc, \`stat\` of the target build, the
build block reported as would-run): the "version check + is the build there" the two tools share.

${table(
  [
    'hosts',
    'memplay --check',
    'memplay peak RSS',
    'memplay recap',
    'Ansible --check',
    'Ansible ÷ memplay',
    'Ansible recap',
  ],
  rows,
)}

Controller RSS (the recap's \`controller_peak_rss_bytes\`): ${slopes || 'one fleet size only'}.
`;
}

function noopSection(noop: NoopRun): string {
  return `## 1. No-op re-run over ${noop.hosts} hosts already on the target

Both fleets first upgraded to the target (cached build copied in, untimed); then each tool runs its full upgrade
again: memplay \`apply\` (serial 1), Ansible \`upgrade.yml\` (prepare play, then the serial-1 play whose upgrade block
is skipped on a host already answering the target version).

${table(
  ['', 'memplay apply', 'ansible-playbook upgrade.yml', 'Ansible ÷ memplay'],
  [
    [
      'wall time',
      seconds(noop.memplay.wallMs),
      seconds(noop.ansible.wallMs),
      ratio(noop.ansible.wallMs / noop.memplay.wallMs),
    ],
    ['recap (all hosts)', memplayRecap(noop.memplay), ansibleRecap(noop.ansible), ''],
  ],
)}
`;
}

function sideRows(side: UpgradeSide, tool: string): string[][] {
  return side.hosts.map((h) => [
    tool,
    h.host,
    h.after.version ?? '—',
    `${count(h.before.currItems)} → ${count(h.after.currItems)} (${((100 * h.after.currItems) / Math.max(1, h.before.currItems)).toFixed(1)} %)`,
    h.outOfServiceMs === null ? '—' : `${count(h.outOfServiceMs)} ms`,
  ]);
}

const upgradeTasks = ['version_check', 'build', 'backup', 'swap', 'restore', 'verify'];

function taskTable(taskMs: UpgradeRun['memplayTaskMs']): string {
  return table(
    ['host', ...upgradeTasks],
    [...taskMs].map(([host, tasks]) => [
      host,
      ...upgradeTasks.map((task) => (tasks[task] === undefined ? '—' : seconds(tasks[task]))),
    ]),
  );
}

/**
 * The work each side is, in CPU seconds (side-cpu.ts), and what it means for
 * the wall time on this machine: no schedule can finish work of C CPU seconds
 * on `cores` cores in less than C ÷ cores.
 */
function cpuSection(u: UpgradeRun, cores: number): string {
  const m = u.memplay.cpu;
  const a = u.ansible.cpu;
  if (!m || !a) return 'CPU time: not measured (cgroup v2 is not writable here).\n';
  const target = u.ansible.wallMs / 4 / 1000;
  const floor = m.totalS / cores;
  const tasks = upgradeTasks.filter((t) => m.byTask?.[t] !== undefined);
  const inTasks = tasks.reduce((sum, t) => sum + (m.byTask?.[t] ?? 0), 0);
  const busy = (cpuS: number, wallMs: number) => `${((100 * cpuS) / cores / (wallMs / 1000)).toFixed(0)} %`;
  const verdict =
    floor <= target
      ? 'the target is within reach of a better schedule'
      : `the target is out of reach on this machine by ${(floor / target).toFixed(1)}× unless memplay does less work`;
  return `CPU time each side cost the machine: the tool, the hosts' sshd and memcached, and everything they
started (the compiler too), counted by one cgroup v2 group per side (scripts/bench/cpu-account.ts), so other
load on the machine does not enter it.

${table(
  ['', 'memplay', 'Ansible'],
  [
    ['CPU time', `${m.totalS.toFixed(1)} s`, `${a.totalS.toFixed(1)} s`],
    [
      `busy share of ${cores} cores over its wall time`,
      busy(m.totalS, u.memplay.wallMs),
      busy(a.totalS, u.ansible.wallMs),
    ],
  ],
)}

memplay's CPU time while each task ran (the union of its spans over the hosts):

${table(
  [...tasks, 'outside tasks'],
  [[...tasks.map((t) => `${(m.byTask?.[t] ?? 0).toFixed(1)} s`), `${(m.totalS - inTasks).toFixed(1)} s`]],
)}

¼ of Ansible's wall time is ${target.toFixed(1)} s. memplay's work, ${m.totalS.toFixed(1)} CPU seconds, needs at least
${floor.toFixed(1)} s on ${cores} cores however it is scheduled: ${verdict}.
`;
}

function upgradeSection(u: UpgradeRun, cores: number): string {
  return `## 2–3. Full rolling upgrade of ${u.hosts} hosts, ${count(u.dataSet.count)} items / ${(u.dataSet.totalBytes / MB).toFixed(0)} MB each

Each side starts from baseline (1.6.18 only, no target build) with the same seeded adversarial item set
(test/lab/items generator, loaded in ${seconds(u.loadMs)}, untimed), and compiles 1.6.38 from the pinned tarball.
memplay: \`apply\` (prepare phase builds on every host at once, then backup → swap → restore → verify, serial 1).
Ansible: \`upgrade.yml\` (prepare play builds on every host at once, then memcached-tool dump → stop/relink/start →
\`nc\` the dump back → version and curr_items check, serial 1).

${table(
  ['', 'memplay', 'Ansible', 'Ansible ÷ memplay'],
  [
    [
      'wall time',
      seconds(u.memplay.wallMs),
      seconds(u.ansible.wallMs),
      ratio(u.ansible.wallMs / u.memplay.wallMs),
    ],
  ],
)}

Where memplay's time went, per host and task (\`duration_ms\` of its task events; the prepare phase's
tasks run on every host at once, the rolling ones one host after another):

${taskTable(u.memplayTaskMs)}

${cpuSection(u, cores)}
Out of service is the old instance's stop (SIGTERM) until the new one has taken the last restored item; for
Ansible, from timestamps the swap and restore tasks print on the host.

${table(
  ['tool', 'host', 'version after', 'items (curr_items before → after)', 'out of service'],
  [...sideRows(u.memplay, 'memplay'), ...sideRows(u.ansible, 'Ansible')],
)}
`;
}

export function renderFleetReport(results: FleetResults): string {
  const m = results.machine;
  const parts = [
    `# memplay fleet benchmark

- date: ${m.date}
- machine: ${m.cpuModel}, ${m.cores} cores, ${(m.memoryBytes / 2 ** 30).toFixed(0)} GiB, ${m.kernel}, Node ${m.node}, load average ${m.loadAverage.toFixed(2)} at start
${results.settings.map((s) => `- ${s}`).join('\n')}
- other lab users while running: ${results.otherLabUsers.length === 0 ? 'none' : results.otherLabUsers.join('; ')}
- bench wall time: ${seconds(results.totalMs)}
`,
    `## Targets

${table(
  ['target', 'measured', 'result'],
  targets(results).map((t) => [
    t.name,
    t.measured,
    t.pass === undefined ? 'not measured' : t.pass ? 'PASS' : 'MISS',
  ]),
)}
`,
  ];
  if (results.checks && results.checks.length > 0) parts.push(checkSection(results.checks));
  if (results.noop) parts.push(noopSection(results.noop));
  if (results.upgrade) parts.push(upgradeSection(results.upgrade, m.cores));
  if (results.big) parts.push(renderBigSection(results.big));
  if (results.leftOut.length > 0)
    parts.push(`## Left out\n\n${results.leftOut.map((l) => `- ${l}`).join('\n')}\n`);
  if (results.broken.length > 0) {
    parts.push(
      `## Broken steps\n\n${results.broken.map((b) => `- ${b.step}: ${b.message.split('\n').slice(0, 8).join(' / ')}`).join('\n')}\n`,
    );
  }
  return parts.join('\n');
}
