import type { GateReport, SettingDifference } from '../../report/gate-report.js';

// `stats settings` of the old instance against the new one. Every difference
// is reported; those that change what clients see fail the host unless the
// playbook accepts them by name (verify.accept_settings).

/** Settings whose change a client notices: item size, connections, protocols and ports, auth, eviction/LRU, memory, cas, the listen address. */
export const clientVisibleSettings: ReadonlySet<string> = new Set([
  'item_size_max',
  'maxconns',
  'binding_protocol',
  'tcpport',
  'udpport',
  'inter',
  'auth_enabled_sasl',
  'auth_enabled_ascii',
  'evictions',
  'lru_segmented',
  'lru_maintainer_thread',
  'temp_lru',
  'maxbytes',
  'cas_enabled',
]);

export type Settings = Readonly<Record<string, string>>;

export function diffSettings(
  before: Settings,
  after: Settings,
  accepted: readonly string[],
  sources: Readonly<Record<string, string>> = {},
): SettingDifference[] {
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  const differences = names
    .filter((name) => before[name] !== after[name])
    .map(
      (setting): SettingDifference => ({
        setting,
        before: before[setting] ?? null,
        after: after[setting] ?? null,
        client_visible: clientVisibleSettings.has(setting),
        accepted: accepted.includes(setting),
        ...(sources[setting] ? { source: sources[setting] } : {}),
      }),
    );
  // Client-visible first, then by name: the report leads with what matters.
  return differences.sort(
    (a, b) => Number(b.client_visible) - Number(a.client_visible) || a.setting.localeCompare(b.setting),
  );
}

export function describeDifference(d: SettingDifference): string {
  const from = d.before ?? '(not reported)';
  const to = d.after ?? '(not reported)';
  return `${d.setting} ${from} → ${to}${d.source ? ` (${d.source})` : ''}`;
}

/** The differences that fail the host: client-visible and not accepted. */
export function blockingDifferences(differences: readonly SettingDifference[]): SettingDifference[] {
  return differences.filter((d) => d.client_visible && !d.accepted);
}

export function settingsGate(
  differences: readonly SettingDifference[],
  options: { readonly check: boolean; readonly unpredictable?: string },
): GateReport {
  const blocking = blockingDifferences(differences);
  const acceptedVisible = differences.filter((d) => d.client_visible && d.accepted);
  const other = differences.filter((d) => !d.client_visible);
  const parts: string[] = [];
  if (blocking.length > 0) {
    parts.push(
      `${options.check ? 'would change' : 'changed'} for clients: ${blocking.map(describeDifference).join(', ')} — not in verify.accept_settings`,
    );
  }
  if (acceptedVisible.length > 0)
    parts.push(`accepted: ${acceptedVisible.map(describeDifference).join(', ')}`);
  if (blocking.length === 0 && acceptedVisible.length === 0) parts.push('no client-visible setting changed');
  if (other.length > 0) {
    parts.push(
      `${other.length} other difference${other.length === 1 ? '' : 's'}: ${other
        .slice(0, 4)
        .map(describeDifference)
        .join(', ')}${other.length > 4 ? ', …' : ''}`,
    );
  }
  if (options.unpredictable) parts.push(options.unpredictable);
  return {
    gate: 'settings',
    status: blocking.length > 0 ? 'failed' : 'passed',
    detail: parts.join('; '),
    differences,
    ...(options.unpredictable ? { unpredictable: options.unpredictable } : {}),
  };
}
