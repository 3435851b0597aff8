import { posix } from 'node:path';
import { sh } from '../transport/quote.js';
import type { Transport } from '../transport/transport.js';
import { formatBytes } from '../units.js';

// Whether a host has room for `swap.mode: handover`: the new build runs beside
// the old one until the port is handed over, so the host holds two copies of
// the cache for a while — the old instance's memory and the new one's memory
// file, which lives on a tmpfs (its pages count as shared memory). Read-only.

export interface HandoverRoom {
  /** `MemAvailable` of /proc/meminfo, bytes; null when it cannot be read. */
  readonly memAvailableBytes: number | null;
  /** Free bytes on the filesystem of the memory file's folder; null when the folder is missing. */
  readonly folderFreeBytes: number | null;
  /** That filesystem's type as `stat -f` names it (`tmpfs`, `ext2/ext3`, …). */
  readonly folderType: string | null;
  /** Bytes the memory file holds already (a leftover of an interrupted handover); 0 when absent. */
  readonly existingFileBytes: number;
}

// $1 the memory file's folder, $2 the memory file.
const probeScript = `
dir=$1; file=$2
awk '/^MemAvailable:/ { print "mem\\t" $2 * 1024 }' /proc/meminfo 2>/dev/null
if [ -d "$dir" ]; then
  df -Pk "$dir" 2>/dev/null | awk 'NR == 2 { print "free\\t" $4 * 1024 }'
  printf 'type\\t%s\\n' "$(stat -f -c %T "$dir" 2>/dev/null)"
fi
if [ -f "$file" ]; then printf 'file\\t%s\\n' "$(stat -c %s "$file" 2>/dev/null)"; fi
exit 0
`;

export async function gatherHandoverRoom(transport: Transport, memoryFile: string): Promise<HandoverRoom> {
  const probe = await transport.run(
    sh`sh -c ${probeScript} memplay-handover-probe ${posix.dirname(memoryFile)} ${memoryFile}`,
  );
  const fields = new Map<string, string>();
  for (const line of probe.stdout.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab > 0) fields.set(line.slice(0, tab), line.slice(tab + 1).trim());
  }
  const number = (name: string): number | null => {
    const value = Number(fields.get(name));
    return fields.has(name) && Number.isFinite(value) ? value : null;
  };
  return {
    memAvailableBytes: number('mem'),
    folderFreeBytes: number('free'),
    folderType: fields.get('type') || null,
    existingFileBytes: number('file') ?? 0,
  };
}

/** memcached's `-m` in bytes (megabytes, default 64), as a memory file is sized. */
export function cacheBytes(memoryLimit: string | undefined): number {
  const megabytes = Number.parseInt(memoryLimit ?? '64', 10);
  return (Number.isFinite(megabytes) && megabytes > 0 ? megabytes : 64) * 1024 * 1024;
}

/**
 * Why the host cannot hold a second copy of the cache, or undefined when it can.
 * `beside`: what other instances of the host handing over at the same time need too
 * (strategy.instances_together) — in memory, and on this memory file's folder.
 */
export function handoverRoomProblem(
  room: HandoverRoom,
  memoryFile: string,
  bytes: number,
  beside: { readonly memoryBytes: number; readonly folderBytes: number } = { memoryBytes: 0, folderBytes: 0 },
): string | undefined {
  const together = (extra: number) =>
    extra > 0 ? ` and the host's other instances in this batch ${formatBytes(extra)} more` : '';
  if (room.folderFreeBytes === null) return `the folder of ${memoryFile} does not exist`;
  if (room.folderType !== 'tmpfs' && room.folderType !== 'ramfs') {
    return `${posix.dirname(memoryFile)} is on ${room.folderType ?? 'an unknown filesystem'}, not tmpfs: a memory file there would be written through to disk`;
  }
  // A leftover file of an interrupted handover is replaced: its space counts as free.
  const free = room.folderFreeBytes + room.existingFileBytes;
  if (free < bytes + beside.folderBytes) {
    return `${posix.dirname(memoryFile)} has ${formatBytes(free)} free, the new instance's memory file needs ${formatBytes(bytes)} (-m)${together(beside.folderBytes)}`;
  }
  if (
    room.memAvailableBytes !== null &&
    room.memAvailableBytes + room.existingFileBytes < (bytes + beside.memoryBytes) * 1.1
  ) {
    return `the host has ${formatBytes(room.memAvailableBytes)} of memory available, a second copy of the cache needs ${formatBytes(bytes)} (-m)${together(beside.memoryBytes)} and a margin`;
  }
  return undefined;
}
