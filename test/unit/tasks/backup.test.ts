import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TaskFailed } from '../../../src/errors.js';
import { backup } from '../../../src/tasks/backup.js';
import { RecordingTransport } from '../../support/recording-transport.js';
import { fixturePlaybook, hostFacts, taskContext } from '../../support/task-context.js';
import { writeBackupFile } from './backup-file.js';

// backup's plan sizes the backup from memcached's `stats` (through the host's
// connection) and looks in backup.dir for a backup an interrupted run never
// restored. It runs no shell command.

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memplay-backup-fixture-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const serving = (stats: Record<string, number>, version = '1.6.18') =>
  new RecordingTransport({
    tcp: { 11211: { version, stats: { time: 1_795_000_600, uptime: 600, ...stats } } },
  });

describe('backup plan', () => {
  it('a running instance with 12,345 items: one backup action sized from stats', async () => {
    const transport = serving({ curr_items: 12_345, bytes: 5 * 1024 * 1024 });
    const f = taskContext({ playbook: fixturePlaybook({ backup: { dir } }), transport });
    const facts = hostFacts();
    const plan = await backup.plan(f.ctx, facts);
    expect(plan.status).toBe('changed');
    if (plan.status !== 'changed') return;
    expect(plan.actions).toEqual([
      {
        kind: 'backup',
        items: 12_345,
        bytes: 5 * 1024 * 1024,
        version: '1.6.18',
        text: `back up 12,345 items / 5.0 MiB from 1.6.18 to ${dir}/cache-1/ via meta protocol`,
      },
    ]);
    expect(plan.detail).toBe(
      `back up 12,345 items / 5.0 MiB from 1.6.18 to ${dir}/cache-1/ via meta protocol`,
    );
    expect(plan.facts).toBe(facts);
    expect(transport.commands).toEqual([]);
    // One stats to date the running instance against leftover backups, one to size the backup.
    expect(transport.memcachedRequests).toEqual(['stats', 'stats']);
    expect(transport.portsDialled).toEqual([11211, 11211]);
    expect(plan.decision).toEqual({ kind: 'dump', items: 12_345, bytes: 5 * 1024 * 1024, path: 'meta' });
    expect(f.runWrites()).toEqual([]);
  });

  it('nothing running: ok, nothing to carry, memcached never dialled', async () => {
    const f = taskContext({ playbook: fixturePlaybook({ backup: { dir } }) });
    const plan = await backup.plan(f.ctx, hostFacts({ runningVersion: null }));
    expect(plan).toMatchObject({
      status: 'ok',
      detail: 'nothing answers on port 11211: no cached data to carry over',
    });
    expect(f.runWrites()).toEqual([]);
    expect(f.transport.commands).toEqual([]);
    expect(f.transport.tcp).toEqual([]);
  });

  it('already running the target: ok, nothing to back up', async () => {
    const transport = serving({ curr_items: 10, bytes: 100 });
    const f = taskContext({ playbook: fixturePlaybook({ backup: { dir } }), transport });
    const plan = await backup.plan(f.ctx, hostFacts({ runningVersion: '1.6.38', currentLink: '1.6.38' }));
    expect(plan).toMatchObject({ status: 'ok', detail: 'already running 1.6.38: nothing to back up' });
  });

  it('memplay backup backs up whatever version runs, the target too', async () => {
    const transport = serving({ curr_items: 3, bytes: 300 });
    const f = taskContext({
      playbook: fixturePlaybook({ backup: { dir } }),
      transport,
      job: { kind: 'backup' },
    });
    const plan = await backup.plan(f.ctx, hostFacts({ runningVersion: '1.6.38', currentLink: '1.6.38' }));
    expect(plan.status).toBe('changed');
    expect(plan.status === 'changed' && plan.actions).toEqual([
      expect.objectContaining({ kind: 'backup', items: 3, bytes: 300, version: '1.6.38' }),
    ]);
    // The standalone backup never reuses a leftover: only the sizing stats.
    expect(transport.memcachedRequests).toEqual(['stats']);
  });

  it('stats that stop answering fail the task, naming the port', async () => {
    // The facts say 1.6.18 serves, but the port refuses now.
    const f = taskContext({ playbook: fixturePlaybook({ backup: { dir } }) });
    const failure = await backup.plan(f.ctx, hostFacts()).catch((e) => e);
    expect(failure).toBeInstanceOf(TaskFailed);
    expect(failure).toMatchObject({ task: 'backup', detail: 'port 11211 stopped answering stats' });
  });

  it('a backup an interrupted run took and never restored is reused, not replaced by a dump of the cold instance', async () => {
    const leftover = await writeBackupFile({
      dir,
      host: 'cache-1',
      memcachedVersion: '1.6.18',
      serverTime: 1_795_000_000,
      values: ['one', 'two', 'three'],
      metadata: { purpose: 'upgrade', target: '1.6.38' },
    });
    // The instance serving now started after that backup: a restart with an empty cache.
    const transport = serving({ curr_items: 0, bytes: 0, time: 1_795_000_600, uptime: 30 });
    const f = taskContext({ playbook: fixturePlaybook({ backup: { dir } }), transport });
    const plan = await backup.plan(f.ctx, hostFacts());
    expect(plan.status).toBe('ok');
    expect(plan.detail).toContain(`reuse ${leftover.path} (3 items / 11 B from 1.6.18)`);
    expect(plan.detail).toContain('1.6.18 on port 11211 started after it');
    expect(transport.memcachedRequests).toEqual(['stats']);
    // Handed to swap and restore as the plan's decision, not written into the run by the plan.
    expect(plan.decision).toMatchObject({ kind: 'reuse', file: { path: leftover.path, items: 3 } });
    expect(f.runWrites()).toEqual([]);
  });

  it('memcached 1.4.25 has no metadump: the host fails in the plan, before anything runs, saying what the user can do', async () => {
    const transport = serving({ curr_items: 39_000, bytes: 20 * 1024 * 1024 }, '1.4.25');
    const f = taskContext({ playbook: fixturePlaybook({ backup: { dir } }), transport });
    const failure = await backup.plan(f.ctx, hostFacts({ runningVersion: '1.4.25' })).catch((e) => e);
    expect(failure).toBeInstanceOf(TaskFailed);
    expect(failure.detail).toMatch(
      /^memcached 1\.4\.25 has no `lru_crawler metadump` \(1\.4\.31 and later\), so no client can list its keys: memplay cannot back it up/,
    );
    expect(failure.detail).toContain('If an empty cache is acceptable, restart it on the new build yourself');
    // Refused before sizing: the only request is the leftover-backup check's stats.
    expect(transport.memcachedRequests).toEqual(['stats']);
    expect(transport.commands).toEqual([]);
    expect(f.runWrites()).toEqual([]);
  });

  it('memcached 1.5.22 (Ubuntu 20.04) is backed up via metadump + gets, and --check says so', async () => {
    const transport = serving({ curr_items: 39_000, bytes: 20 * 1024 * 1024 }, '1.5.22');
    const f = taskContext({ playbook: fixturePlaybook({ backup: { dir } }), transport });
    const plan = await backup.plan(f.ctx, hostFacts({ runningVersion: '1.5.22' }));
    expect(plan.status).toBe('changed');
    expect(plan.detail).toBe(
      `back up 39,000 items / 20.0 MiB from 1.5.22 to ${dir}/cache-1/ via metadump + gets`,
    );
    expect(plan.decision).toEqual({
      kind: 'dump',
      items: 39_000,
      bytes: 20 * 1024 * 1024,
      path: 'metadump-gets',
    });
    expect(f.runWrites()).toEqual([]);
  });
});
