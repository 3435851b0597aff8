import { readdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import { loadPlaybook, selectHosts } from '../playbook/index.js';
import { defaultBackupDir, defaultBackupRetention } from '../playbook/resolve.js';
import type { BackupRetention } from '../playbook/types.js';
import { backupsEvent, formatBackupsTable, type HostBackupListing } from '../report/backups-view.js';
import { catalogHostBackups } from '../tasks/backup-catalog.js';
import { applyRetention } from '../tasks/backup-retention.js';
import { ExitCode } from './exit-codes.js';
import { type FactsOutput, parseFactsOutput } from './facts.js';
import { printJsonEvent } from './output.js';

export type BackupsOutput = FactsOutput;
export const parseBackupsOutput = parseFactsOutput;

export interface BackupsOptions {
  readonly limit?: string;
  readonly output: BackupsOutput;
  /** Every JSON line carries it as `run_id`. */
  readonly runId: string;
}

/**
 * Lists each host's backups on the controller and whether `backup.keep` keeps
 * them, as the prune after the next successful run would decide (without the
 * backup that run would add). Reads files only; no host is contacted.
 */
export async function backupsCommand(file: string | undefined, options: BackupsOptions): Promise<ExitCode> {
  const { dir, keep, hosts } = await whatToList(file, options.limit);
  const nowMs = Date.now();
  const listings = await Promise.all(
    hosts.map(async (host): Promise<HostBackupListing> => {
      try {
        const { folder, backups } = await catalogHostBackups(dir, host);
        const retained = applyRetention(backups, keep, { nowMs, inUse: new Set(), upcoming: false });
        return { host, folder, keep, backups: retained };
      } catch (error) {
        return { host, folder: dir, keep, backups: [], problem: (error as Error).message };
      }
    }),
  );
  const writeLine = (line: string) => process.stdout.write(`${line}\n`);
  if (options.output === 'json')
    for (const listing of listings) printJsonEvent(backupsEvent(listing), options.runId);
  else writeLine(formatBackupsTable(listings));
  return listings.some((listing) => listing.problem !== undefined) ? ExitCode.hostFailed : ExitCode.ok;
}

async function whatToList(
  file: string | undefined,
  limit: string | undefined,
): Promise<{ dir: string; keep: BackupRetention; hosts: string[] }> {
  if (file !== undefined) {
    const playbook = await loadPlaybook(file);
    return {
      dir: playbook.backup.dir,
      keep: playbook.backup.keep,
      hosts: selectHosts(playbook, limit).map((host) => host.name),
    };
  }
  // Without a playbook: the default backup.dir under the current folder, each host folder in it, the default keep.
  if (limit !== undefined)
    throw new UsageError('--limit needs a playbook: memplay backups PLAYBOOK --limit …');
  const dir = resolve(defaultBackupDir);
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => {
    throw new UsageError(
      `no playbook given and no ${defaultBackupDir} folder here (${dir}); memplay backups PLAYBOOK lists the playbook's backup.dir`,
    );
  });
  const hosts = entries
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
    .map((entry) => entry.name)
    .sort();
  return { dir, keep: defaultBackupRetention, hosts };
}
