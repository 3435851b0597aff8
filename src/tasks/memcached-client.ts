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

/** Decimal units, as `du --si` and most dashboards print them: `119.4 MB`. */
export function formatSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1000 ** 2) return `${(bytes / 1000).toFixed(1)} kB`;
  if (bytes < 1000 ** 3) return `${(bytes / 1000 ** 2).toFixed(1)} MB`;
  return `${(bytes / 1000 ** 3).toFixed(2)} GB`;
}
