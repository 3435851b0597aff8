import { formatBytes, formatCount } from '../units.js';
import type { PlanAction } from './event-types.js';
import type { PlanSummary, RunEvent } from './events.js';

// What --check prints after the task lines, in every text mode: each host's
// concrete actions as an indented list, then the fleet summary. Kept apart from
// the renderers so the live view and the plain lines say exactly the same.

/** Collects the planned actions of a --check run from its events; `lines` renders them once the summary arrives. */
export function planView(): {
  add(event: RunEvent): void;
  lines(summary: PlanSummary): string[];
} {
  const hosts: string[] = [];
  const actions = new Map<string, PlanAction[]>();
  const guarantees = new Map<string, string>();
  return {
    add(event) {
      if (event.event === 'start') hosts.push(...event.hosts);
      if (event.event === 'task' && event.task === 'swap' && event.swap_guarantee) {
        guarantees.set(event.host, event.swap_guarantee);
      }
      if (event.event === 'task' && event.actions) {
        const list = actions.get(event.host) ?? [];
        list.push(...event.actions);
        actions.set(event.host, list);
      }
    },
    lines(summary) {
      return [...formatHostPlans(hosts, actions, summary, guarantees), ...formatPlanSummary(summary)];
    },
  };
}

export function formatHostPlans(
  hosts: readonly string[],
  actions: ReadonlyMap<string, readonly PlanAction[]>,
  summary: PlanSummary,
  guarantees: ReadonlyMap<string, string> = new Map(),
): string[] {
  const lines = ['PLAN'];
  for (const host of hosts) {
    lines.push(host);
    if (summary.unreachable.includes(host)) lines.push('  no plan: unreachable (see above)');
    else if (summary.failed.includes(host)) lines.push('  no complete plan: a task failed (see above)');
    const list = actions.get(host) ?? [];
    for (const action of list) lines.push(`  - ${action.text}`);
    const guarantee = guarantees.get(host);
    if (guarantee && list.length > 0) lines.push(`  guarantee: ${guarantee}`);
    if (list.length === 0 && summary.unchanged.includes(host)) lines.push('  nothing to change');
  }
  return lines;
}

export function formatPlanSummary(summary: PlanSummary): string[] {
  const lines = ['SUMMARY'];
  const list = (names: readonly string[]) => (names.length ? ` (${names.join(', ')})` : '');
  lines.push(
    `  hosts: ${summary.changing.length} of ${summary.hosts} would change${list(summary.changing)}; ${summary.unchanged.length} unchanged`,
  );
  const notPlanned = [
    ...summary.failed.map((host) => `${host} (failed)`),
    ...summary.unreachable.map((host) => `${host} (unreachable)`),
  ];
  if (notPlanned.length) lines.push(`  not planned: ${notPlanned.join(', ')}`);
  for (const failure of summary.failures) {
    lines.push(`  would fail: ${failure.host} at ${failure.task}: ${failure.detail}`);
  }
  const compile = summary.compile.map((c) => `compile ${c.version} on ${c.host}`);
  const builders = [...new Set(summary.ship.map((s) => s.from))];
  const shipped = builders.map(
    (from) =>
      `ship ${from}'s build to ${summary.ship
        .filter((s) => s.from === from)
        .map((s) => s.host)
        .join(', ')}`,
  );
  const unpacked = (summary.unpack ?? []).map(
    (u) => `unpack ${u.version} from the distro package on ${u.host}`,
  );
  lines.push(`  builds: ${[...compile, ...shipped, ...unpacked].join('; ') || 'none'}`);
  lines.push(
    summary.backup_hosts
      ? `  back up: ${formatCount(summary.backup_items)} items / ${formatBytes(summary.backup_bytes)} on ${summary.backup_hosts} host${summary.backup_hosts === 1 ? '' : 's'}`
      : '  back up: nothing',
  );
  const down = summary.batches.filter((b) => b.out_of_service.length > 0);
  lines.push(
    down.length
      ? `  out of service: at most ${summary.max_out_of_service} host${summary.max_out_of_service === 1 ? '' : 's'} at a time, in ${down.length} batch${down.length === 1 ? '' : 'es'}: ${down.map((b) => b.out_of_service.join(', ')).join(' | ')}`
      : '  out of service: none',
  );
  lines.push(...rolloutLines(summary));
  return lines;
}

/** What stands between the batches above, and the run's failure budget; nothing when neither is set. */
function rolloutLines(summary: PlanSummary): string[] {
  const lines: string[] = [];
  const waits = [
    summary.pause_between_batches > 0 ? `wait ${summary.pause_between_batches} s` : '',
    summary.confirm_between_batches ? 'ask whether to go on' : '',
  ].filter(Boolean);
  if (waits.length > 0) {
    // Between the batches that change hosts: apply waits for no batch of hosts already
    // on target, nor for one whose hosts all fail before it.
    const changing = summary.batches.filter((b) => b.hosts.some((host) => summary.changing.includes(host)));
    const times = Math.max(0, changing.length - 1);
    lines.push(
      `  between batches: ${waits.join(', then ')}, before each batch after the first (${times === 1 ? 'once' : `${times} times`})`,
    );
  }
  if (summary.max_failed_hosts !== null) {
    lines.push(
      `  failure budget: no further batch starts once more than ${summary.max_failed_hosts} of ${summary.hosts} hosts have failed (max_failed_hosts)`,
    );
  }
  return lines;
}
