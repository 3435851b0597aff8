import { closeSync, fsync, fsyncSync, lstatSync, mkdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  backupFolderOwnershipProblem,
  JOURNAL_FILE,
  openOwnFileForAppend,
  UntrustedBackupFolder,
} from '../memcached/backup-dir.js';

// The controller's record of what each run did to each host: a run's start,
// every task result with the backup file in play, rollbacks, the recap. One
// JSON object per line, appended with a synchronous write, so a SIGKILL keeps
// every line that was reported; each is then flushed to disk by an fsync off the
// event loop (one at a time, the next covering every line written meanwhile), so
// a reboot loses at most the lines of the last few milliseconds, and the run's
// end waits for its flush. A synchronous fsync per line stalled every host's
// tunnels for 4–5 ms each time: 0.9 s of a 50-host batch (issue 18). Operators read it to know
// which backup belongs to which run; nothing is replayed from it — a re-run
// converges from what it finds on the hosts and in the backup folder.

export { JOURNAL_FILE };

export type JournalEntry =
  | {
      readonly entry: 'start';
      readonly job: string;
      readonly playbook: string;
      readonly hosts: readonly string[];
    }
  | {
      readonly entry: 'task';
      readonly host: string;
      readonly task: string;
      readonly status: string;
      readonly detail: string;
      /** The backup file this host's run holds at this point, if any. */
      readonly backup?: string;
    }
  | {
      /** Backups backup.keep removed after the host's run. */
      readonly entry: 'prune';
      readonly host: string;
      readonly removed: readonly string[];
      readonly freed_bytes: number;
      readonly problems?: readonly string[];
    }
  | {
      /** Apply left the host other than its plan predicted (the `plan-drift` event). */
      readonly entry: 'plan-drift';
      readonly host: string;
      readonly task: string;
      readonly field: string;
      readonly planned: string | null;
      readonly found: string | null;
    }
  | {
      readonly entry: 'recap';
      readonly interrupted: boolean;
      readonly hosts: Readonly<Record<string, unknown>>;
    };

export interface Journal {
  readonly path: string;
  append(entry: JournalEntry): void;
  close(): void;
}

/**
 * Opens `<backupDir>/journal.jsonl` for appending (0600 in a 0700 folder, like
 * the backups). Undefined when others may write to the folder: the backup
 * preflight refuses that folder with the fix, and nothing is written there.
 * A folder or journal that is a link or another user's was refused with the
 * playbook (exit 4); one swapped in since throws UntrustedBackupFolder, and the
 * journal is opened without following a link and chmod-ed on its descriptor.
 */
export function openJournal(
  backupDir: string,
  run: string,
  /** The run's redaction (report/redact.ts): a task's detail can quote a command's output. */
  redact: (entry: JournalEntry) => JournalEntry = (entry) => entry,
): Journal | undefined {
  const existing = lstatSync(backupDir, { throwIfNoEntry: false });
  if (existing && (existing.mode & 0o022) !== 0 && !existing.isSymbolicLink()) return undefined;
  mkdirSync(backupDir, { recursive: true, mode: 0o700 });
  const problem = backupFolderOwnershipProblem(backupDir, [], JOURNAL_FILE);
  if (problem) throw new UntrustedBackupFolder(problem);
  const path = join(backupDir, JOURNAL_FILE);
  const fd = openOwnFileForAppend(path);
  let broken = false;
  let closed = false;
  // An fsync in flight, and whether lines were written since it began.
  let flushing = false;
  let unflushed = false;
  const fail = (error: Error) => {
    if (broken || closed) return;
    broken = true;
    process.stderr.write(
      `memplay: the journal ${path} could not be written (${error.message}); the run goes on without it\n`,
    );
  };
  const flush = () => {
    flushing = true;
    unflushed = false;
    fsync(fd, (error) => {
      flushing = false;
      if (error) fail(error);
      else if (unflushed && !closed) flush();
    });
  };
  return {
    path,
    // A journal that cannot be written (disk full) must not stop a run that
    // may have a host mid-swap: say so once, on stderr, and carry on.
    append(entry) {
      if (broken) return;
      try {
        writeSync(fd, `${JSON.stringify({ at: new Date().toISOString(), run, ...redact(entry) })}\n`);
      } catch (error) {
        fail(error as Error);
        return;
      }
      unflushed = true;
      if (!flushing) flush();
    },
    close() {
      if (closed) return;
      // The last lines (the recap) are on disk before the run reports its end.
      if (!broken && (unflushed || flushing)) {
        try {
          fsyncSync(fd);
        } catch (error) {
          fail(error as Error);
        }
      }
      closed = true;
      closeSync(fd);
    },
  };
}
