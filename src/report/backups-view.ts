import { awaitingRestore } from '../memcached/backup-purpose.js';
import { retentionText } from '../playbook/retention-text.js';
import type { BackupRetention } from '../playbook/types.js';
import { formatBytes, formatCount } from '../units.js';
import { formatTable } from './table.js';

// `memplay backups` as a table for people and as JSON lines for programs: one
// `backups` object per host, in playbook order, each backup with whether
// `backup.keep` keeps it and why.

/** One backup as the listing shows it: what src/tasks/backup-retention.ts decided about a catalogued file. */
export interface ListedBackup {
  readonly file: string;
  /** On the controller's disk, sidecars included. */
  readonly bytes: number;
  readonly restored: boolean;
  /** What its header says; absent when the file is not a complete memplay backup of this host. */
  readonly backup?: {
    readonly createdAtMs: number;
    readonly memcachedVersion: string;
    readonly purpose?: string;
    readonly target?: string;
    readonly items: number;
    readonly valueBytes: number;
  };
  readonly retention: { readonly keep: boolean; readonly reason: string };
}

export interface HostBackupListing {
  readonly host: string;
  readonly folder: string;
  readonly keep: BackupRetention;
  /** Newest first. */
  readonly backups: readonly ListedBackup[];
  /** Why the folder could not be read. */
  readonly problem?: string;
}

export interface BackupsEvent {
  readonly event: 'backups';
  readonly host: string;
  readonly folder: string;
  /** The policy, as written: `count 3, max_age 7d`. */
  readonly keep: string;
  readonly backups: readonly {
    readonly file: string;
    /** null for a file that is not a complete memplay backup of this host (see `reason`). */
    readonly created_at: string | null;
    /** The memcached version it was taken from. */
    readonly memcached_version: string | null;
    /** The job that took it (`upgrade`, `rollback`, `backup`) and the version it headed for. */
    readonly purpose: string | null;
    readonly target: string | null;
    readonly items: number | null;
    readonly value_bytes: number | null;
    /** On the controller's disk, sidecars included. */
    readonly bytes: number;
    readonly restored: boolean;
    /** An upgrade's or rollback's backup not restored yet: never pruned. */
    readonly awaiting_restore: boolean;
    /** `prune`: beyond backup.keep, removed by the next apply, rollback or backup that succeeds on the host. */
    readonly retention: 'keep' | 'prune';
    readonly reason: string;
  }[];
  readonly bytes: number;
  readonly prune: number;
  readonly prune_bytes: number;
  readonly problem?: string;
}

function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}

export function backupsEvent(listing: HostBackupListing): BackupsEvent {
  const pruned = listing.backups.filter((b) => !b.retention.keep);
  return {
    event: 'backups',
    host: listing.host,
    folder: listing.folder,
    keep: retentionText(listing.keep),
    backups: listing.backups.map((b) => ({
      file: b.file,
      created_at: b.backup ? isoSeconds(b.backup.createdAtMs) : null,
      memcached_version: b.backup?.memcachedVersion ?? null,
      purpose: b.backup?.purpose ?? null,
      target: b.backup?.target ?? null,
      items: b.backup?.items ?? null,
      value_bytes: b.backup?.valueBytes ?? null,
      bytes: b.bytes,
      restored: b.restored,
      awaiting_restore: awaitingRestore(b),
      retention: b.retention.keep ? 'keep' : 'prune',
      reason: b.retention.reason,
    })),
    bytes: listing.backups.reduce((sum, b) => sum + b.bytes, 0),
    prune: pruned.length,
    prune_bytes: pruned.reduce((sum, b) => sum + b.bytes, 0),
    ...(listing.problem !== undefined && { problem: listing.problem }),
  };
}

const columns = ['HOST', 'BACKUP', 'CREATED', 'FROM', 'ITEMS', 'SIZE', 'RESTORED', 'KEEP'];
/** Numbers are right-aligned. */
const rightAligned = new Set([4, 5]);

/** Every host's backups, newest first, then one line per unreadable folder and a total. */
export function formatBackupsTable(listings: readonly HostBackupListing[]): string {
  const cells = listings.flatMap((listing) =>
    listing.backups.map((b) => [
      listing.host,
      b.file,
      b.backup ? isoSeconds(b.backup.createdAtMs).replace('T', ' ') : '-',
      b.backup?.memcachedVersion ?? '-',
      b.backup ? formatCount(b.backup.items) : '-',
      formatBytes(b.bytes),
      b.restored ? 'yes' : awaitingRestore(b) ? 'not yet' : 'no',
      `${b.retention.keep ? 'kept' : 'prune'}: ${b.retention.reason}`,
    ]),
  );
  const out = formatTable(columns, cells, rightAligned);
  for (const listing of listings) {
    if (listing.problem) out.push(`${listing.host} ${listing.folder}: ${listing.problem}`);
  }
  out.push(total(listings));
  return out.join('\n');
}

function total(listings: readonly HostBackupListing[]): string {
  const backups = listings.flatMap((l) => l.backups);
  const bytes = backups.reduce((sum, b) => sum + b.bytes, 0);
  const pruned = backups.filter((b) => !b.retention.keep);
  const policies = [...new Set(listings.map((l) => retentionText(l.keep)))].join('; ');
  const hosts = `${listings.length} host${listings.length === 1 ? '' : 's'}`;
  const held = `${formatCount(backups.length)} backup${backups.length === 1 ? '' : 's'}, ${formatBytes(bytes)}`;
  const prune =
    pruned.length > 0
      ? `${formatCount(pruned.length)} beyond backup.keep (${policies}), ${formatBytes(
          pruned.reduce((sum, b) => sum + b.bytes, 0),
        )}: removed by the next apply, rollback or backup that succeeds on its host`
      : `none beyond backup.keep (${policies})`;
  return `${hosts}: ${held}; ${prune}`;
}
