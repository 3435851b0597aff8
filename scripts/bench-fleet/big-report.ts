import { seconds } from '../bench/units.js';
import type { BigResults, Load, Pair } from './big.js';

// The 500-host section of the fleet report: one row per comparison with both
// wall times, the ratio against its target, and the load average around each
// timed span (the machine is shared, so a figure without its load means little).

const load = (l: Load) => `${l.before.toFixed(1)}→${l.after.toFixed(1)}`;

/** `target` undefined: the issue sets none (facts), the ratio is shown for the record. */
function row(name: string, pair: Pair | undefined, target?: number): string[] {
  const wanted = target === undefined ? 'none set' : `≤ ${target}`;
  if (!pair) return [name, 'not measured', '', '', wanted, '', ''];
  const { memplayMs, memplayLoad } = pair;
  const share = pair.ansible && memplayMs !== undefined ? memplayMs / pair.ansible.ms : undefined;
  const result =
    target === undefined || share === undefined
      ? '—'
      : share <= target
        ? 'PASS'
        : `MISS by ${(share / target).toFixed(1)}×`;
  return [
    name,
    memplayMs !== undefined && memplayLoad
      ? `${seconds(memplayMs)} (load ${load(memplayLoad)})`
      : 'not run (--big-memplay no)',
    pair.ansible
      ? `${seconds(pair.ansible.ms)} (load ${load(pair.ansible.load)})`
      : 'not run (--big-ansible no)',
    share === undefined ? '—' : share.toFixed(3),
    wanted,
    result,
    pair.memplayPeakRssBytes === undefined ? '—' : `${(pair.memplayPeakRssBytes / 1e6).toFixed(0)} MB`,
  ];
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function renderBigSection(big: BigResults): string {
  const { hosts, forks, items } = big.options;
  const u = big.upgrade;
  const rssValues = [big.check, u, big.noop].flatMap((p) =>
    p?.memplayPeakRssBytes === undefined ? [] : [p.memplayPeakRssBytes],
  );
  const peak = rssValues.length > 0 ? Math.max(...rssValues) : undefined;
  const facts = [
    peak === undefined
      ? '- controller peak RSS per host: not measured'
      : `- controller peak RSS: ${(peak / 1e6).toFixed(0)} MB at most, ${(peak / hosts / 1e6).toFixed(2)} MB per host (target ≤ 1 MB): ${peak / hosts <= 1e6 ? 'PASS' : 'MISS'}`,
    u?.memplayCompiles !== undefined
      ? `- compiles in memplay's upgrade: ${u.memplayCompiles} (target: one for the whole fleet): ${u.memplayCompiles === 1 ? 'PASS' : 'MISS'}`
      : '- compiles: not measured',
    u
      ? `- hosts on the target with all ${items} items exact (value, flags, expiry): memplay ${u.memplayExact === undefined ? 'not run' : `${u.memplayExact}/${hosts}`}, Ansible ${u.ansibleExact === undefined ? 'not run' : `${u.ansibleExact}/${hosts}`}`
      : '- items after the upgrade: not measured',
    ...(u && u.differences.length > 0 ? [`- first differences: ${u.differences.join('; ')}`] : []),
  ];
  return `## 500 hosts: ${hosts} hosts, forks ${forks} on both sides

memplay: \`facts\`, \`apply --check\`, \`apply\` (serial 10%, build from source once, ${items} items a host), then
\`apply\` again over the upgraded fleet (no-op). Ansible at forks ${forks}: \`gather.yml\` (the setup module's
default subset plus memcached's \`stats\`), \`prepare.yml --check\`, \`upgrade-once.yml -e rolling_serial=10%\`
(compiled once on the first host, its binary copied to the rest; then the rolling play in 10% batches), and the
same again over the upgraded fleet (no-op).

${table(
  ['comparison', 'memplay', 'Ansible', 'memplay ÷ Ansible', 'target', 'result', 'memplay peak RSS'],
  [
    row('facts', big.facts),
    row('apply --check', big.check, 0.1),
    row('no-op apply', big.noop, 0.1),
    row('full rolling upgrade', u, 0.25),
  ],
)}

${facts.join('\n')}
`;
}
