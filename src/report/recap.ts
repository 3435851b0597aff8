import { formatBytes } from '../units.js';
import type { HostRecap } from './events.js';

/** A PLAY RECAP table like Ansible's, one row per host. */
export function formatRecap(hosts: Readonly<Record<string, HostRecap>>): string {
  const names = Object.keys(hosts);
  const width = Math.max(4, ...names.map((n) => n.length));
  const rows = names.map((name) => {
    const r = hosts[name] as HostRecap;
    const swap = r.swap_mode ? `  swap=${r.swap_mode}` : '';
    const out = r.out_of_service_ms !== undefined ? `  out_of_service=${r.out_of_service_ms}ms` : '';
    const stale =
      r.possibly_stale !== undefined
        ? `  possibly_stale=${r.possibly_stale}${r.possibly_stale_uncounted ? '+?' : ''}`
        : '';
    const leftOut = r.left_out ? `  left_out=${r.left_out}` : '';
    const pruned = r.pruned_backups
      ? `  pruned_backups=${r.pruned_backups} (${formatBytes(r.pruned_bytes ?? 0)})`
      : '';
    return `${name.padEnd(width)} : ok=${r.ok}  changed=${r.changed}  unreachable=${r.unreachable ? 1 : 0}  failed=${r.failed}  skipped=${r.skipped}${swap}${out}${stale}${leftOut}${pruned}`;
  });
  return ['RECAP '.padEnd(width + 20, '*'), ...rows].join('\n');
}
