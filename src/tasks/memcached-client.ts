import type { BackupHeader } from '../memcached/backup-layout.js';
import { MetaClient } from '../memcached/meta-client.js';
import type { TaskContext } from './task.js';

/** A pipelined meta-protocol client to the host-local memcached, tunnelled through the host's SSH connection. */
export function connectMeta(ctx: TaskContext): Promise<MetaClient> {
  return MetaClient.connect(() => ctx.transport.openTcp(ctx.host.memcached.port), { connections: 2 });
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
