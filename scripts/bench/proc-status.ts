import { readFileSync } from 'node:fs';

/** A `VmHWM`/`VmRSS`-style field of /proc/<pid>/status, in bytes (the file says kB). */
export function procStatusBytes(field: 'VmHWM' | 'VmRSS', pid: number | 'self' = 'self'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = status.match(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm'));
  if (!match) throw new Error(`bench: no ${field} in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}
