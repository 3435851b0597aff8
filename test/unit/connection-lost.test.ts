import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  connectionLost,
  type LostConnection,
  lostConnectionDetail,
} from '../../src/engine/connection-lost.js';
import { HostUnreachable } from '../../src/errors.js';
import { BackupWriteError, createBackupWriter } from '../../src/memcached/backup-writer.js';
import { backupDirProblems } from '../../src/playbook/backup-dir.js';
import { parsePlaybookText } from '../../src/playbook/load.js';
import { type PlaybookDocument, resolvePlaybook } from '../../src/playbook/resolve.js';
import { newHostRun } from '../../src/tasks/task.js';
import type { Transport } from '../../src/transport/transport.js';
import { head, tester } from '../support/playbook-helpers.js';

const lost = (over: Partial<LostConnection>): LostConnection => ({
  job: { kind: 'upgrade' },
  host: 'host1',
  task: 'backup',
  target: '1.6.38',
  port: 11211,
  lastSeenVersion: '1.6.18',
  run: newHostRun(),
  ...over,
});
const backupFile = { path: '/b/host1/x.mpbak', items: 3, valueBytes: 9, deltaMs: 1, summary: '' };

describe('a task that failed over a lost ssh connection', () => {
  it('is told apart from a host problem by one probe command', async () => {
    const probe = (run: Transport['run']) => ({ run }) as unknown as Transport;
    const dead = probe(() => Promise.reject(new Error('connection already closed')));
    const alive = probe(() => Promise.resolve({ code: 0, stdout: '', stderr: '' }));
    expect(await connectionLost(dead, new Error('memcached closed the connection'))).toBe(true);
    expect(await connectionLost(alive, new Error('configure failed'))).toBe(false);
    expect(await connectionLost(alive, new HostUnreachable('host1', 'disconnected', 'lost'))).toBe(true);
  });

  it('before anything was stopped: says what keeps serving and that the re-run carries on', () => {
    expect(lostConnectionDetail(lost({ task: 'build' }))).toBe(
      'the ssh connection to host1 was lost during build: nothing was stopped, 1.6.18 keeps serving on port 11211; the unfinished build is cleared by the next one. Re-run memplay apply once ssh to host1 works again: it carries on from build',
    );
  });

  it('after the swap: names the new version and the unrestored backup the re-run restores', () => {
    const detail = lostConnectionDetail(
      lost({
        task: 'restore',
        run: { ...newHostRun(), swap: { stoppedAt: 1 }, backup: { sealed: backupFile } },
      }),
    );
    expect(detail).toBe(
      'the ssh connection to host1 was lost during restore: host1 already runs 1.6.38, and its items are in /b/host1/x.mpbak, not yet all restored. Re-run memplay apply once ssh to host1 works again: it finds that backup unrestored and restores it into 1.6.38 (add mode: what clients wrote since is kept), then verifies',
    );
  });

  it('during the swap, after verify began, and for memplay restore: each says where the host stands', () => {
    expect(
      lostConnectionDetail(
        lost({
          task: 'swap',
          run: { ...newHostRun(), swap: { stoppedAt: 1 }, backup: { sealed: backupFile } },
        }),
      ),
    ).toContain('port 11211 may serve nothing until the re-run, and the items are in /b/host1/x.mpbak');
    expect(
      lostConnectionDetail(
        lost({
          task: 'verify',
          run: {
            ...newHostRun(),
            swap: { stoppedAt: 1 },
            backup: { sealed: backupFile },
            restore: { restored: { stored: 3, keptNewer: 0, from: backupFile } },
          },
        }),
      ),
    ).toContain(
      'host1 runs 1.6.38 with its items restored from /b/host1/x.mpbak; only the check did not finish',
    );
    expect(
      lostConnectionDetail(lost({ job: { kind: 'restore', from: 'backups/' }, task: 'restore' })),
    ).toContain('Re-run memplay restore --from backups/ once ssh');
  });
});

describe('the backup folder', () => {
  const playbookWith = (dir: string) => {
    const text = `${head}backup:\n  dir: ${dir}\nhosts:\n  host1: { address: 127.0.0.1 }\n`;
    const loaded = parsePlaybookText('/fleet/fleet.yml', text);
    if (!loaded.source) throw new Error('no source');
    return {
      source: loaded.source,
      playbook: resolvePlaybook(loaded.source.data() as PlaybookDocument, '/fleet/fleet.yml', tester),
    };
  };

  it('under a regular file is refused at the backup.dir line, naming the file', async () => {
    const root = await mkdtemp(join(tmpdir(), 'memplay-backupdir-'));
    await writeFile(join(root, 'file'), 'x');
    const { source, playbook } = playbookWith(join(root, 'file', 'backups'));
    expect(await backupDirProblems(source, playbook)).toEqual([
      {
        file: '/fleet/fleet.yml',
        line: 8,
        col: 8,
        message: `backup.dir: cannot write backups to ${root}/file/backups: ${root}/file is a file, not a folder (ENOTDIR); set backup.dir to a folder memplay can create or write`,
      },
    ]);
  });

  it('that does not exist yet under a writable folder is fine', async () => {
    const root = await mkdtemp(join(tmpdir(), 'memplay-backupdir-'));
    await mkdir(join(root, 'a'));
    const { source, playbook } = playbookWith(join(root, 'a', 'b', 'c'));
    expect(await backupDirProblems(source, playbook)).toEqual([]);
  });

  it('that fails a write: the error names the folder, the errno and the next step', async () => {
    const root = await mkdtemp(join(tmpdir(), 'memplay-backupdir-'));
    await writeFile(join(root, 'file'), 'x');
    const attempt = createBackupWriter({
      dir: join(root, 'file'),
      host: 'host1',
      memcachedVersion: '1.6.18',
      serverTime: 1,
    });
    await expect(attempt).rejects.toBeInstanceOf(BackupWriteError);
    await expect(attempt).rejects.toThrow(
      `cannot write the backup to ${root}/file/host1: ${root}/file is a file, not a folder (EEXIST); make ${root}/file/host1 writable for memplay, or set backup.dir to a folder it can write`,
    );
  });
});
