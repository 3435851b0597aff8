// Numbers as people read them, in one unit system for every output of memplay.
// Sizes are binary (KiB, MiB, GiB), as memcached's own `-m` megabytes and `du -h`
// count: a plan that printed one backup as 24.9 MiB on one line and 26.1 MB on
// another read as two different backups. Every layer may import this module; it
// imports nothing.

const byteUnits = ['B', 'KiB', 'MiB', 'GiB', 'TiB'] as const;

function unitFor(bytes: number): number {
  let power = 0;
  while (power < byteUnits.length - 1 && bytes >= 1024 ** (power + 1)) power += 1;
  return power;
}

function scaled(bytes: number, power: number): string {
  return power === 0 ? String(bytes) : (bytes / 1024 ** power).toFixed(1);
}

/**
 * `512 B`, `1.5 KiB`, `119.4 MiB`; with a total, both in the total's unit so the
 * two compare at a glance: `48.0/119.0 MiB`.
 */
export function formatBytes(bytes: number, total?: number): string {
  const power = unitFor(total ?? bytes);
  const done = scaled(bytes, power);
  return total === undefined
    ? `${done} ${byteUnits[power]}`
    : `${done}/${scaled(total, power)} ${byteUnits[power]}`;
}

/** `41,200`: grouped by thousands, whatever the controller's locale. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** `12.3s`: how long a step took, to a tenth of a second. */
export function formatDuration(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** `45 s`, `2 min 5 s`: a wait counted down, rounded up so it never reads 0 s early. */
export function formatSeconds(seconds: number): string {
  const rounded = Math.max(0, Math.ceil(seconds));
  return rounded < 60 ? `${rounded} s` : `${Math.floor(rounded / 60)} min ${rounded % 60} s`;
}

/** `ETA 3 s`, `ETA 2 min 05 s`, `ETA 1 h 03 min`: rounded up, never "0 s" while work remains. */
export function formatEta(ms: number): string {
  const seconds = Math.max(1, Math.ceil(ms / 1000));
  if (seconds < 60) return `ETA ${seconds} s`;
  if (seconds < 3600) return `ETA ${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
  const minutes = Math.ceil(seconds / 60);
  return `ETA ${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}
