import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { memplayFolder } from './host.js';
import type { Lab, LabHost } from './layout.js';
import { memcachedStats } from './memcached-port.js';
import { isAlive, readPid } from './pidfile.js';

export interface FileEntry {
  /** Relative to the user's home. */
  readonly path: string;
  readonly type: 'file' | 'dir' | 'symlink' | 'other';
  readonly size: number;
  readonly mode: number;
  readonly mtimeMs: number;
  /** Regular files up to 10 MB. */
  readonly sha256?: string;
  readonly target?: string;
}

/** Everything about a host that a read-only run must leave exactly as it was. */
export interface HostSnapshot {
  readonly host: string;
  readonly files: readonly FileEntry[];
  /** The pid in the memcached pidfile, null if none. */
  readonly pid: number | null;
  readonly alive: boolean;
  /** `stats` fields that move only when something is written, deleted or flushed; null if not answering. */
  readonly stats: Readonly<Record<string, string>> | null;
}

const hashLimit = 10 * 1024 * 1024;

// Deliberately a list of what to keep rather than what to drop: a memcached release
// that adds a counter must not make "nothing changed" assertions flaky. Connections,
// gets, bytes read/written, time, uptime and rusage move with every probe.
const writeOnlyStats = [
  'pid',
  'version',
  'pointer_size',
  'limit_maxbytes',
  'threads',
  'curr_items',
  'total_items',
  'bytes',
  'cmd_set',
  'cmd_flush',
  'cmd_touch',
  'delete_hits',
  'delete_misses',
  'incr_hits',
  'incr_misses',
  'decr_hits',
  'decr_misses',
  'cas_hits',
  'cas_misses',
  'cas_badval',
  'touch_hits',
  'touch_misses',
  'evictions',
  'reclaimed',
];

async function listFiles(root: string, relative = ''): Promise<FileEntry[]> {
  const entries: FileEntry[] = [];
  const names = (await readdir(join(root, relative))).sort();
  for (const name of names) {
    const path = relative ? `${relative}/${name}` : name;
    // memplay's run lock comes and goes with every run, refused ones included: a
    // run that changed nothing else still took it (src/engine/host-lock.ts).
    if (path === `memcached/${memplayFolder}`) continue;
    const full = join(root, path);
    const stat = await lstat(full);
    const common = { path, size: stat.size, mode: stat.mode, mtimeMs: stat.mtimeMs };
    if (stat.isSymbolicLink()) {
      entries.push({ ...common, type: 'symlink', target: await readlink(full) });
    } else if (stat.isDirectory()) {
      entries.push({ ...common, type: 'dir' });
      entries.push(...(await listFiles(root, path)));
    } else if (stat.isFile()) {
      const sha256 =
        stat.size <= hashLimit
          ? createHash('sha256')
              .update(await readFile(full))
              .digest('hex')
          : undefined;
      entries.push(sha256 === undefined ? { ...common, type: 'file' } : { ...common, type: 'file', sha256 });
    } else {
      entries.push({ ...common, type: 'other' });
    }
  }
  return entries;
}

function stableStats(stats: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    writeOnlyStats.filter((name) => name in stats).map((name) => [name, stats[name] as string]),
  );
}

export async function snapshotOf(host: LabHost): Promise<HostSnapshot> {
  const pid = await readPid(host.pidfile);
  const stats = await memcachedStats(host.memcachedPort);
  return {
    host: host.name,
    files: await listFiles(host.home),
    pid,
    alive: pid !== null && isAlive(pid),
    stats: stats && stableStats(stats),
  };
}

/** A JSON-able picture of lab host `index` (1-based) for "nothing changed" assertions. */
export function snapshotHost(lab: Lab, index: number): Promise<HostSnapshot> {
  const host = lab.hosts[index - 1];
  if (!host) throw new Error(`lab: no host ${index} (the lab has ${lab.hosts.length})`);
  return snapshotOf(host);
}
