import { createBackupWriter } from '../../../src/memcached/backup-writer.js';

/**
 * A small, complete backup of `host` written with the repo's own writer (no
 * process, no memcached): what `memplay backup` or an upgrade's backup leaves in
 * `<dir>/<host>/`. `metadata` is what the task records (purpose, target).
 */
export async function writeBackupFile(options: {
  readonly dir: string;
  readonly host: string;
  readonly memcachedVersion: string;
  readonly serverTime: number;
  readonly values: readonly string[];
  readonly metadata?: Record<string, unknown>;
}): Promise<{ path: string; items: number; valueBytes: number }> {
  const writer = await createBackupWriter({
    dir: options.dir,
    host: options.host,
    memcachedVersion: options.memcachedVersion,
    serverTime: options.serverTime,
  });
  options.values.forEach((value, i) => {
    writer.writeItem({
      key: Buffer.from(`key:${i}`),
      value: Buffer.from(value),
      flags: 0,
      exptime: 0,
      cas: i + 1,
    });
  });
  const { path, header } = await writer.finish(options.metadata);
  return { path, items: header.items, valueBytes: header.valueBytes };
}
