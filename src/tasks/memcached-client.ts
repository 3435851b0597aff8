import type { BackupHeader } from '../memcached/backup-layout.js';
import { MetaClient } from '../memcached/meta-client.js';
import type { TaskContext } from './task.js';

/** A pipelined meta-protocol client to the host-local memcached, tunnelled through the host's SSH connection. */
export function connectMeta(ctx: TaskContext): Promise<MetaClient> {
  return MetaClient.connect(() => ctx.transport.openTcp(ctx.host.memcached.port), { connections: 2 });
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** restoreBackup's progress as the task's: items and value bytes against the file header's totals. */
export function restoreProgress(ctx: TaskContext, phase: string) {
  return (p: { items: number; valueBytes: number; header: BackupHeader }) =>
    ctx.progress(phase, {
      items: p.items,
      itemsTotal: Math.max(p.header.items, p.items),
      bytes: p.valueBytes,
      bytesTotal: Math.max(p.header.valueBytes, p.valueBytes),
    });
}

/**
 * Sizes as every memplay output prints them, in one unit system: binary
 * (`119.4 MiB`), as memcached's own `-m` megabytes and `du -h` count. A plan
 * that printed one backup as 24.9 MiB on one line and 26.1 MB on another read
 * as two different backups.
 */
export function formatSize(bytes: number): string {
  return formatBytes(bytes);
}
