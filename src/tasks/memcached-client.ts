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

/** Decimal units, as `du --si` and most dashboards print them: `119.4 MB`. */
export function formatSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1000 ** 2) return `${(bytes / 1000).toFixed(1)} kB`;
  if (bytes < 1000 ** 3) return `${(bytes / 1000 ** 2).toFixed(1)} MB`;
  return `${(bytes / 1000 ** 3).toFixed(2)} GB`;
}
