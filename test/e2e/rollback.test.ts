import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { beforeEach, describe, expect, inject, it } from 'vitest';
import { installFakeBuild } from '../lab/fake-build.js';
import { ensureBuild, type Lab, memcachedVersion, resetLab, writeFleetPlaybook } from '../lab/index.js';
import { compareDigests, digestItems, generateItems, loopbackConnection } from '../lab/items/generator.js';
import { runMemplay, spawnMemplay, taskEvents } from './memplay-cli.js';

// Automatic rollback: a host whose upgrade fails after swap stopped the old
// instance ends on its old build with every item it held, and the run says so.

const lab = inject('lab') as Lab;
const direct = loopbackConnection;
const host1 = () => lab.hosts[0]!;

describe('automatic rollback', () => {
  beforeEach(async () => {
    await resetLab(lab);
  });

  it('a new build that will not start: swap fails, host1 is back on 1.6.18 with every item, exit 2', async () => {
    const port = host1().memcachedPort;
    await generateItems(direct(port), { seed: 41, count: 20_000, totalBytes: 24 * 1024 * 1024 });
    const original = await digestItems(direct(port));
    await installFakeBuild(host1(), '1.6.38', '1.6.38');
    const playbook = await writeFleetPlaybook(lab, { hosts: [1] });

    const applied = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(2);
    const tasks = taskEvents(applied);
    const swap = tasks.find((t) => t.task === 'swap');
    expect(swap?.status).toBe('failed');
    expect(swap?.detail).toMatch(
      /^1\.6\.38 did not start: start exited 1: memcached: this build is broken on purpose/,
    );
    const rollback = tasks.find((t) => t.task === 'rollback');
    expect(rollback?.status).toBe('changed');
    expect(rollback?.detail).toMatch(
      new RegExp(
        `^rolled back to 1\\.6\\.18, serving on port ${port} with 20,000 items / [\\d.]+ MiB restored from .+\\.mpbak \\(after swap failed\\)$`,
      ),
    );
    expect(tasks.filter((t) => t.task === 'restore' || t.task === 'verify').map((t) => t.status)).toEqual([
      'skipped',
      'skipped',
    ]);
    expect(await memcachedVersion(port)).toBe('1.6.18');
    expect(compareDigests(original, await digestItems(direct(port)))).toEqual([]);
  });

  it('bad args: the new build refuses the start arguments; host1 is back on 1.6.18 with its old command line and every item, exit 2', async () => {
    const port = host1().memcachedPort;
    await ensureBuild(host1(), '1.6.38');
    await generateItems(direct(port), { seed: 45, count: 20_000, totalBytes: 24 * 1024 * 1024 });
    const original = await digestItems(direct(port));
    const oldCommandLine = readFileSync(
      `/proc/${readFileSync(host1().pidfile, 'utf8').trim()}/cmdline`,
      'utf8',
    );
    const playbook = await writeFleetPlaybook(lab, { hosts: [1] });
    // The same args would stop the old build too: the rollback must not start it with them.
    const text = await readFile(playbook, 'utf8');
    await writeFile(
      playbook,
      // Its -l as the running one's: a playbook that moved memcached off its address fails at version_check.
      text.replace(
        /^( +)service: /m,
        '$1args: ["-l", "127.0.0.1", "-o", "no_such_option_memplay"]\n$1service: ',
      ),
    );

    const applied = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(2);
    const tasks = taskEvents(applied);
    expect(tasks.find((t) => t.task === 'swap')?.detail).toMatch(
      /^1\.6\.38 did not start: start exited 1: Illegal suboption "no_such_option_memplay"/,
    );
    expect(tasks.find((t) => t.task === 'rollback')?.detail).toMatch(
      /^rolled back to 1\.6\.18, serving on port \d+ with 20,000 items/,
    );
    expect(await memcachedVersion(port)).toBe('1.6.18');
    const pid = readFileSync(host1().pidfile, 'utf8').trim();
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toBe(oldCommandLine);
    expect(compareDigests(original, await digestItems(direct(port)))).toEqual([]);
  });

  it('the new memcached killed during restore: host1 is back on 1.6.18 with every item, exit 2', async () => {
    const port = host1().memcachedPort;
    await ensureBuild(host1(), '1.6.38');
    await generateItems(direct(port), { seed: 42, count: 60_000, totalBytes: 90 * 1024 * 1024 });
    const original = await digestItems(direct(port));
    const playbook = await writeFleetPlaybook(lab, { hosts: [1] });

    let killed: number | null = null;
    const live = spawnMemplay(['apply', playbook], (event) => {
      if (event.event === 'task-start' && event.task === 'restore' && killed === null) {
        killed = Number(readFileSync(host1().pidfile, 'utf8').trim());
        process.kill(killed, 'SIGKILL');
      }
    });
    expect(await live.exited).toBe(2);
    expect(killed).toBeGreaterThan(0);
    const tasks = live.events.filter((e) => e.event === 'task');
    expect(tasks.find((t) => t.task === 'swap')?.status).toBe('changed');
    expect(tasks.find((t) => t.task === 'restore')?.status).toBe('failed');
    const rollback = tasks.find((t) => t.task === 'rollback');
    expect(rollback?.status, rollback?.detail).toBe('changed');
    expect(rollback?.detail).toMatch(
      /^rolled back to 1\.6\.18, serving on port \d+ with 60,000 items .*\(after restore failed\)$/,
    );
    expect(await memcachedVersion(port)).toBe('1.6.18');
    expect(compareDigests(original, await digestItems(direct(port)))).toEqual([]);

    // The re-run upgrades for real from the rolled-back host, data included.
    const again = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(await memcachedVersion(port)).toBe('1.6.38');
    // Two more moves (into 1.6.18 by the rollback, into 1.6.38 now): memcached's clocks tick in whole
    // seconds, so each move may shift an expiry by up to 2 s — 4 s over two.
    expect(compareDigests(original, await digestItems(direct(port)), 4)).toEqual([]);
  });
});

describe('memplay rollback', () => {
  beforeEach(async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
  });

  it('refuses a host no apply has swapped, naming the missing previous link', async () => {
    const playbook = await writeFleetPlaybook(lab, { hosts: [1] });
    const run = await runMemplay(['rollback', playbook, '--output', 'json']);
    expect(run.code).toBe(2);
    const check = taskEvents(run).find((t) => t.task === 'version_check');
    expect(check?.status).toBe('failed');
    expect(check?.detail).toContain(`no ${host1().prefix}/previous link: no apply has swapped this host`);
    expect(await memcachedVersion(host1().memcachedPort)).toBe('1.6.18');
  });

  it('after an apply, --check shows the way back, rollback returns to 1.6.18 with every item, and a second rollback changes nothing', async () => {
    const port = host1().memcachedPort;
    await ensureBuild(host1(), '1.6.38');
    const playbook = await writeFleetPlaybook(lab, { hosts: [1] });
    await generateItems(direct(port), { seed: 43, count: 20_000, totalBytes: 24 * 1024 * 1024 });
    const applied = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    // Written to the new version after the upgrade: rollback must carry these too.
    await generateItems(direct(port), { seed: 44, count: 2_000, totalBytes: 2 * 1024 * 1024 });
    const before = await digestItems(direct(port));

    const check = await runMemplay(['rollback', playbook, '--check', '--output', 'json']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const planned = taskEvents(check);
    expect(planned.find((t) => t.task === 'version_check')?.detail).toContain(
      'roll back to 1.6.18 (previous)',
    );
    expect(planned.find((t) => t.task === 'swap')?.detail).toContain('repoint current 1.6.38 → 1.6.18');
    expect(await memcachedVersion(port)).toBe('1.6.38');

    const rolled = await runMemplay(['rollback', playbook, '--output', 'json']);
    expect(rolled.code, rolled.stdout + rolled.stderr).toBe(0);
    expect(await memcachedVersion(port)).toBe('1.6.18');
    expect(compareDigests(before, await digestItems(direct(port)))).toEqual([]);

    const again = await runMemplay(['rollback', playbook, '--output', 'json']);
    expect(again.code).toBe(0);
    expect(taskEvents(again).map((t) => t.status)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(await memcachedVersion(port)).toBe('1.6.18');
  });
});
