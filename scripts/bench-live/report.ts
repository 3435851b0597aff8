import type { BrokenStep } from '../bench/entry.js';
import type { Machine } from '../bench/machine.js';
import { count, seconds } from '../bench/units.js';
import { type CacheSize, describeSize } from './hosts.js';
import type { HostRow, PathName, PathRun } from './paths.js';

// The live bench's output: one Markdown document. Every row is one data path
// under the same traffic; the targets come from the issue, and a row without
// one (the plain restart, the Ansible play) is there for scale.

export interface LiveResults {
  readonly machine: Machine;
  readonly settings: readonly string[];
  readonly otherLabUsers: readonly string[];
  readonly runs: readonly PathRun[];
  readonly leftOut: readonly string[];
  readonly broken: readonly BrokenStep[];
  readonly totalMs: number;
}

/** Out of service and the error stretch are held to this on the warm and handover paths. */
export const maxOutOfServiceMs = 500;

export const targets: Readonly<Record<PathName, string>> = {
  cold: 'possibly_stale ≥ keys read stale or resurrected (per host); 0 stale values',
  warm: `0 stale, 0 resurrected, 0 lost; out of service ≤ ${maxOutOfServiceMs / 1000} s`,
  handover: `0 stale, 0 resurrected; out of service ≤ ${maxOutOfServiceMs / 1000} s`,
  restart: 'none: no data carried, for scale',
  ansible: 'none: the anchor (memcached-tool dump → restart → nc)',
};

const pathTitle: Readonly<Record<PathName, string>> = {
  cold: 'memplay cold',
  warm: 'memplay warm',
  handover: 'memplay handover',
  restart: 'plain restart',
  ansible: 'Ansible + memcached-tool',
};

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.map((c) => c.replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

const sum = (run: PathRun, figure: (h: HostRow) => number) => run.hosts.reduce((t, h) => t + figure(h), 0);
const most = (run: PathRun, figure: (h: HostRow) => number) => Math.max(0, ...run.hosts.map(figure));
const memplayPath = (path: PathName) => path === 'cold' || path === 'warm' || path === 'handover';

/** memplay's recap figure for every host, or null when a host's recap lacks it. */
function recapFigures(run: PathRun, figure: 'out_of_service_ms' | 'possibly_stale'): number[] | null {
  const values = run.hosts.map((h) => h.recap?.[figure]);
  return values.every((v): v is number => typeof v === 'number') ? values : null;
}

/** memplay's paths: the recap's out_of_service_ms; the others: the clients' longest error stretch. */
function outOfServiceMs(run: PathRun): number | null {
  if (!memplayPath(run.path)) return most(run, (h) => h.traffic.longestErrorStretchMs);
  const values = recapFigures(run, 'out_of_service_ms');
  return values && Math.max(0, ...values);
}

interface Verdict {
  readonly pass: boolean | null;
  readonly misses: readonly string[];
}

function verdict(run: PathRun): Verdict {
  const misses: string[] = [];
  const stale = sum(run, (h) => h.traffic.staleReads);
  const resurrected = sum(run, (h) => h.traffic.resurrectedDeletes);
  const outage = outOfServiceMs(run);
  if (run.failures.length > 0) misses.push(`${run.path === 'ansible' ? 'Ansible' : 'memplay'} failed`);
  const wrongPath = run.hosts.filter((h) => h.recap?.swap_mode !== run.path);
  if (memplayPath(run.path) && wrongPath.length > 0) {
    misses.push(
      `swap_mode ${wrongPath.map((h) => `${h.recap?.swap_mode ?? 'none'} on ${h.host.name}`).join(', ')}`,
    );
  }
  switch (run.path) {
    case 'restart':
    case 'ansible':
      return { pass: null, misses };
    case 'cold':
      if (stale > 0) misses.push(`${count(stale)} stale values`);
      for (const h of run.hosts) {
        // possibly_stale counts values (keys), a key read back wrong ten times is one of them.
        const seen = h.traffic.staleKeys + h.traffic.resurrectedKeys;
        const counted = h.recap?.possibly_stale;
        if (counted === undefined) misses.push(`${h.host.name}: no possibly_stale in the recap`);
        else if (counted < seen) misses.push(`${h.host.name}: possibly_stale ${counted} < ${seen} keys seen`);
      }
      break;
    case 'warm':
    case 'handover': {
      if (stale > 0) misses.push(`${count(stale)} stale values`);
      if (resurrected > 0) misses.push(`${count(resurrected)} resurrected deletes`);
      const lost = sum(run, (h) => h.traffic.lostWrites);
      if (run.path === 'warm' && lost > 0) misses.push(`${count(lost)} writes lost`);
      if (outage === null) misses.push('no out_of_service_ms in the recap');
      else if (outage > maxOutOfServiceMs) misses.push(`out of service ${seconds(outage)}`);
      break;
    }
  }
  return { pass: misses.length === 0, misses };
}

function resultCell(run: PathRun): string {
  const { pass, misses } = verdict(run);
  if (pass === null) return misses.length > 0 ? `— (${misses.join('; ')})` : '—';
  return pass ? 'PASS' : `MISS: ${misses.join('; ')}`;
}

function sizeCell(size: CacheSize, hosts: number): string {
  return `${hosts > 1 ? `${hosts} × ` : ''}${describeSize(size)}`;
}

function itemsCell(run: PathRun): string {
  const before = sum(run, (h) => h.before.currItems);
  const after = sum(run, (h) => h.after.currItems);
  const share = before > 0 ? ` (${((100 * after) / before).toFixed(1)} %)` : '';
  return `${count(after)} / ${count(before)}${share}`;
}

function outOfServiceCell(run: PathRun): string {
  const outage = outOfServiceMs(run);
  if (outage === null) return 'not reported';
  return `${seconds(outage)} ${memplayPath(run.path) ? '(recap)' : '(clients)'}`;
}

function possiblyStaleCell(run: PathRun): string {
  if (!memplayPath(run.path)) return '—';
  const values = recapFigures(run, 'possibly_stale');
  return values ? count(values.reduce((t, v) => t + v, 0)) : 'not reported';
}

function summaryRow(run: PathRun): string[] {
  return [
    pathTitle[run.path],
    sizeCell(run.size, run.hosts.length),
    `${run.from} → ${run.to}`,
    seconds(run.wallMs),
    count(sum(run, (h) => h.traffic.staleReads)),
    count(sum(run, (h) => h.traffic.resurrectedDeletes)),
    count(sum(run, (h) => h.traffic.foreignValues)),
    count(sum(run, (h) => h.traffic.lostWrites)),
    seconds(most(run, (h) => h.traffic.longestErrorStretchMs)),
    outOfServiceCell(run),
    possiblyStaleCell(run),
    itemsCell(run),
    resultCell(run),
  ];
}

/** The path the host took, and why when it is not the row's (a warm restart that fell back to cold). */
function swapCell(run: PathRun, h: HostRow): string {
  const mode = h.recap?.swap_mode;
  if (!memplayPath(run.path)) return '—';
  if (mode === run.path) return mode;
  return `${mode ?? 'none'}: ${h.swap?.reason ?? h.swap?.detail ?? 'no swap event'}`;
}

function hostRow(run: PathRun, h: HostRow): string[] {
  const t = h.traffic;
  const recap = h.recap;
  return [
    pathTitle[run.path],
    describeSize(run.size),
    h.host.name,
    swapCell(run, h),
    recap?.out_of_service_ms === undefined ? '—' : seconds(recap.out_of_service_ms),
    h.ownWindowMs === null ? '—' : seconds(h.ownWindowMs),
    seconds(t.longestErrorStretchMs),
    `${count(t.staleReads)} / ${count(t.resurrectedDeletes)} / ${count(t.foreignValues)} / ${count(t.lostWrites)}`,
    recap?.possibly_stale === undefined
      ? '—'
      : `${count(recap.possibly_stale)}${recap.possibly_stale_uncounted ? ` (${recap.possibly_stale_uncounted})` : ''}`,
    `${count(h.before.currItems)} → ${count(h.after.currItems)}`,
    `${count(t.ops)} at ${t.opsPerSecond}/s, ${count(t.errors)} errors, ${count(t.missesAfterAckedWrite)} misses after an acked set`,
  ];
}

function examplesSection(runs: readonly PathRun[]): string | null {
  const lines: string[] = [];
  for (const run of runs) {
    for (const h of run.hosts) {
      for (const example of h.traffic.examples.slice(0, 3)) {
        lines.push(`- ${pathTitle[run.path]}, ${describeSize(run.size)}, ${h.host.name}: ${example}`);
      }
    }
  }
  return lines.length > 0 ? `## What clients saw (first violations per host)\n\n${lines.join('\n')}\n` : null;
}

function failuresSection(runs: readonly PathRun[]): string | null {
  const lines = runs.flatMap((run) =>
    run.failures.map(
      (f) =>
        `- ${pathTitle[run.path]}, ${describeSize(run.size)}: ${f.split('\n').slice(0, 8).join(' / ').slice(0, 1500)}`,
    ),
  );
  return lines.length > 0 ? `## Tool failures\n\n${lines.join('\n')}\n` : null;
}

export function renderLiveReport(results: LiveResults): string {
  const m = results.machine;
  const parts: (string | null)[] = [
    `# memplay live-traffic benchmark

- date: ${m.date}
- machine: ${m.cpuModel}, ${m.cores} cores, ${(m.memoryBytes / 2 ** 30).toFixed(0)} GiB, ${m.kernel}, Node ${m.node}, load average ${m.loadAverage.toFixed(2)} at start
${results.settings.map((s) => `- ${s}`).join('\n')}
- other lab users while running: ${results.otherLabUsers.length === 0 ? 'none' : results.otherLabUsers.join('; ')}
- bench wall time: ${seconds(results.totalMs)}
`,
    `## Targets (from the issue)

${table(
  ['path', 'target'],
  (Object.keys(targets) as PathName[]).map((p) => [pathTitle[p], targets[p]]),
)}
`,
    `## Results

Counts are what the clients saw, summed over the hosts: a stale value is older than one the client had
written and seen acknowledged, a resurrected delete a value read back after an acknowledged delete, a foreign
value one never written for that key; a lost write is a key whose last acknowledged op was a set and that
misses in the final pass after the traffic stopped. Times are the longest over the hosts. Out of service is
memplay's recap \`out_of_service_ms\` on memplay's paths, and the clients' longest error stretch on the others.
The error stretch counts failed ops only: while a cache is restored, clients get misses, not errors, so it is
shorter than memplay's cold out of service and than the Ansible play's own window (per host, below).
Upgrade took: memplay or ansible-playbook from start to exit, or the restarts one after the other; the traffic
ran that long plus its margins (settings above).

${table(
  [
    'path',
    'cache',
    'versions',
    'upgrade took',
    'stale values read',
    'resurrected deletes',
    'foreign values',
    'acked writes lost',
    'longest error stretch',
    'out of service',
    'possibly_stale',
    'items after / before',
    'result',
  ],
  results.runs.map(summaryRow),
)}
`,
    results.runs.length > 0
      ? `## Per host

The own window is the plain restart's stop → answering, timed by the bench, and the Ansible play's kill →
dump restored, from its debug task. Items before: the data set and the traffic's keys, before the traffic started.

${table(
  [
    'path',
    'cache',
    'host',
    'swap_mode',
    'out of service (recap)',
    'own window',
    'longest error stretch',
    'stale / resurrected / foreign / lost',
    'possibly_stale',
    'items before → after',
    'traffic',
  ],
  results.runs.flatMap((run) => run.hosts.map((h) => hostRow(run, h))),
)}
`
      : null,
    examplesSection(results.runs),
    failuresSection(results.runs),
    results.leftOut.length > 0 ? `## Left out\n\n${results.leftOut.map((l) => `- ${l}`).join('\n')}\n` : null,
    results.broken.length > 0
      ? `## Broken steps\n\n${results.broken.map((b) => `- ${b.step}: ${b.message.split('\n').slice(0, 8).join(' / ')}`).join('\n')}\n`
      : null,
  ];
  return parts.filter((p) => p !== null).join('\n');
}
