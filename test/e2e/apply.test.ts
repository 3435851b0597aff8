import { readdir, readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { formatCount } from '../../src/units.js';
import { installFakeBuild } from '../lab/fake-build.js';
import { type Lab, memcachedVersion, resetLab, snapshotHost, writeFleetPlaybook } from '../lab/index.js';
import { checkJsonLines } from './event-contract.js';
import { recapOf, runMemplay, taskEvents } from './memplay-cli.js';

const lab = inject('lab') as Lab;
const hostIndexes = [1, 2, 3];

async function snapshots() {
  return Promise.all(hostIndexes.map((i) => snapshotHost(lab, i)));
}

describe('apply on the 3-host lab (1.6.18 → 1.6.38)', () => {
  beforeAll(async () => {
    await resetLab(lab);
  });
  afterAll(async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
  });

  it('apply --check leaves every host byte-for-byte unchanged, exits 0, and says what would change', async () => {
    const playbook = await writeFleetPlaybook(lab, {});
    const before = await snapshots();
    const run = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    checkJsonLines(run.stdout);
    const after = await snapshots();
    expect(after).toEqual(before);

    const tasks = taskEvents(run);
    for (const host of ['host1', 'host2', 'host3']) {
      const byTask = Object.fromEntries(tasks.filter((t) => t.host === host).map((t) => [t.task, t]));
      expect(byTask.version_check?.detail).toContain('running 1.6.18');
      expect(byTask.build?.status).toBe('changed');
      // One build per platform: the lab's hosts share one, so host1 compiles and ships it.
      if (host === 'host1') {
        expect(byTask.build?.detail).toContain('build 1.6.38 from memcached_1.6.38.orig.tar.xz');
        expect(byTask.build?.detail).toMatch(
          /ship it to host2, host3 \(same platform: [^,]+, \S+ [^,]+, libevent \S+\)/,
        );
      } else {
        expect(byTask.build?.detail).toMatch(/^ship 1\.6\.38 built on host1 \(same platform: [^)]+\) into /);
      }
      expect(byTask.swap?.status).toBe('changed');
      expect(byTask.swap?.detail).toMatch(
        /stop 1\.6\.18 \(pid \d+\), repoint current 1\.6\.18 → 1\.6\.38, start 1\.6\.38/,
      );
      expect(byTask.verify?.status).toBe('ok');
      expect(tasks.every((t) => t.check)).toBe(true);
    }
    for (const i of hostIndexes)
      expect(await memcachedVersion(lab.hosts[i - 1]!.memcachedPort)).toBe('1.6.18');
  });

  it('apply brings all three hosts to 1.6.38, answered over their ports, never two down at once with serial: 1', async () => {
    const playbook = await writeFleetPlaybook(lab, {});
    // Old builds on host3: with keep_builds 2 the build task keeps the two newest and removes 1.6.9.
    const host3 = lab.hosts[2]!;
    for (const old of ['1.6.9', '1.6.10', '1.6.12']) await installFakeBuild(host3, old, old);
    const monitor = watchPorts(lab.hosts.map((h) => h.memcachedPort));
    const run = await runMemplay(['apply', playbook, '--output', 'json', '-v']);
    const downtime = await monitor.stop();
    expect(run.code, run.stdout + run.stderr).toBe(0);
    for (const host of lab.hosts) expect(await memcachedVersion(host.memcachedPort)).toBe('1.6.38');

    // Exactly one compile in the fleet (same platform): host1's; host2 and host3 receive its tree.
    const configures = run.events.filter((e) => e.event === 'command' && /\.\/configure /.test(e.command));
    expect(configures.map((e) => (e.event === 'command' ? e.host : ''))).toEqual(['host1']);
    const builds = Object.fromEntries(
      taskEvents(run)
        .filter((t) => t.task === 'build')
        .map((t) => [t.host, t.detail]),
    );
    expect(builds.host1).toMatch(/^built 1\.6\.38 in [\d.]+s, shipped to host2, host3$/);
    // make's progress counts compiled files up to what `make -n` listed.
    const make = run.events.filter(
      (e) => e.event === 'progress' && e.host === 'host1' && e.task === 'build' && e.phase === 'make',
    );
    const lastMake = make.at(-1) as Extract<(typeof make)[number], { event: 'progress' }>;
    expect(lastMake).toMatchObject({ unit: 'files' });
    expect(lastMake.items).toBeGreaterThan(10);
    expect(lastMake.items).toBe(lastMake.items_total);
    const received =
      /^received 1\.6\.38 built on host1 in [\d.]+s \(tar sha256 [0-9a-f]{12}… verified here\)/;
    expect(builds.host2).toMatch(new RegExp(`${received.source}$`));
    // Old builds on host3: with keep_builds 2 the build task keeps the two newest and removes 1.6.9.
    expect(builds.host3).toMatch(new RegExp(`${received.source}; removed old builds 1\\.6\\.9$`));
    // The shipped tree was checked on arrival: sha256sum -c ran on each receiver and passed.
    for (const host of ['host2', 'host3']) {
      const verified = run.events.filter(
        (e) => e.event === 'command' && e.host === host && /sha256sum -c/.test(e.command),
      );
      expect(
        verified.map((e) => (e.event === 'command' ? e.code : -1)),
        host,
      ).toEqual([0]);
    }
    expect((await readdir(host3.prefix)).filter((e) => /^\d/.test(e)).sort()).toEqual([
      '1.6.10',
      '1.6.12',
      '1.6.18',
      '1.6.38',
    ]);

    const recap = recapOf(run);
    for (const host of ['host1', 'host2', 'host3']) {
      expect(recap[host]).toMatchObject({ failed: 0, unreachable: false, changed: 4 });
    }

    // A bot can follow the run from its JSON alone: every line (-v: commands and
    // progress too) follows schemas/events.schema.json, all carry one run_id, in time order.
    const lines = checkJsonLines(run.stdout);
    expect(lines[0]).toMatchObject({
      event: 'start',
      job: 'upgrade',
      memplay_version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      target_version: '1.6.38',
    });
    const times = lines.map((line) => Date.parse(String(line.ts)));
    expect(times.every((time, i) => i === 0 || time >= (times[i - 1] as number))).toBe(true);
    // The journal names the run by the same id.
    const runId = lines[0]?.run_id;
    const journal = (await readFile(String(lines.at(-1)?.journal), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { run: string; entry: string });
    expect(journal.filter((entry) => entry.run === runId).map((entry) => entry.entry)).toContain('recap');
    // What the details say in words, the events carry as numbers.
    for (const host of ['host1', 'host2', 'host3']) {
      const byTask = Object.fromEntries(
        taskEvents(run)
          .filter((t) => t.host === host)
          .map((t) => [t.task, t]),
      );
      expect(byTask.version_check, host).toMatchObject({
        target_version: '1.6.38',
        running_version: '1.6.18',
      });
      const backup = byTask.backup;
      expect(backup?.detail).toContain(`full pass ${formatCount(backup?.items ?? -1)} items`);
      const restore = byTask.restore;
      expect(restore?.detail).toMatch(new RegExp(`^restored ${formatCount(restore?.items ?? -1)} items`));
      expect(restore).toMatchObject({ bytes: expect.any(Number), skipped: expect.any(Number) });
      expect(restore?.detail).toContain(`out of service ${restore?.out_of_service_ms} ms`);
    }
    // Every host was seen down at least once, and no two down intervals overlap.
    expect(downtime.every((intervals) => intervals.length > 0)).toBe(true);
    const all = downtime.flatMap((intervals, host) => intervals.map((iv) => ({ host, ...iv })));
    for (const a of all) {
      for (const b of all) {
        if (a.host < b.host)
          expect(
            a.end <= b.start || b.end <= a.start,
            `host${a.host + 1} and host${b.host + 1} were down together`,
          ).toBe(true);
      }
    }
  });

  it('a second apply reports 0 changed and leaves memcached running under the same pids', async () => {
    const playbook = await writeFleetPlaybook(lab, {});
    const before = await snapshots();
    const run = await runMemplay(['apply', playbook, '--output', 'json', '-v']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const recap = recapOf(run);
    for (const host of ['host1', 'host2', 'host3'])
      expect(recap[host]).toMatchObject({ changed: 0, failed: 0 });
    // Every host has the target's build, so none has its platform read (most of the probe's cost).
    const probes = run.events.filter((e) => e.event === 'command' && e.command.includes(' memplay-probe '));
    expect(probes).toHaveLength(3);
    for (const probe of probes) {
      expect(probe).toMatchObject({
        code: 0,
        stdout: expect.stringMatching(/^build\t1\.6\.38\tmemcached 1\.6\.38\t1$/m),
      });
      expect(probe).not.toMatchObject({
        stdout: expect.stringMatching(/^(arch|libc|libevent|missing-build-tools)\t/m),
      });
    }
    // Hosts already on the target stop nothing: one rolling batch, not three serial ones.
    const rollingBatches = run.events.filter((e) => e.event === 'batch' && e.phase === 'rolling');
    expect(rollingBatches).toEqual([
      expect.objectContaining({ batch: 1, hosts: ['host1', 'host2', 'host3'], on_target: true }),
    ]);
    const after = await snapshots();
    expect(after.map((s) => s.pid)).toEqual(before.map((s) => s.pid));
    expect(after).toEqual(before);
  });
});

describe('refusals on the lab', () => {
  beforeAll(async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
  });

  it('an unknown host key: exit 3, the fingerprint in the message, nothing run on that host', async () => {
    const playbook = await writeFleetPlaybook(lab, { knownHostsWithout: [2] });
    const before = await snapshotHost(lab, 2);
    const run = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(run.code).toBe(3);
    const unreachable = run.events.find((e) => e.event === 'unreachable');
    expect(unreachable).toMatchObject({ host: 'host2', reason: 'host-key-unknown' });
    expect(JSON.stringify(unreachable)).toMatch(/SHA256:[A-Za-z0-9+/]{43}/);
    expect(await snapshotHost(lab, 2)).toEqual(before);
    expect(await memcachedVersion(lab.hosts[1]!.memcachedPort)).toBe('1.6.18');
  });

  it('a wrong sha256: validate, --check and apply refuse it at its line before connecting (exit 4); every host untouched', async () => {
    await resetLab(lab);
    const playbook = await writeFleetPlaybook(lab, { sha256: 'a'.repeat(64) });
    const line =
      (await readFile(playbook, 'utf8')).split('\n').findIndex((l) => l.includes('a'.repeat(64))) + 1;
    const before = await snapshots();
    for (const args of [
      ['validate', playbook],
      ['apply', playbook, '--check'],
      ['apply', playbook],
    ]) {
      const run = await runMemplay(args);
      expect(run.code, args.join(' ')).toBe(4);
      expect(run.stderr).toContain(`${playbook}:${line}:`);
      expect(run.stderr).toMatch(
        new RegExp(`target\\.source\\.sha256: \\S+ has sha256 [0-9a-f]{64}, not ${'a'.repeat(64)}`),
      );
      // Caught on the controller: no host was contacted.
      expect(run.stdout + run.stderr).not.toMatch(/host1|host2|host3/);
    }
    const after = await snapshots();
    expect(after).toEqual(before);
    for (const host of lab.hosts) expect(await memcachedVersion(host.memcachedPort)).toBe('1.6.18');
  });
});

/** Polls each port every few ms and records the intervals during which it did not answer. */
function watchPorts(ports: readonly number[]) {
  const intervals: { start: number; end: number }[][] = ports.map(() => []);
  const downSince: (number | null)[] = ports.map(() => null);
  let running = true;
  const loop = (async () => {
    while (running) {
      await Promise.all(
        ports.map(async (port, i) => {
          const up = (await memcachedVersion(port)) !== null;
          const now = performance.now();
          if (!up && downSince[i] === null) downSince[i] = now;
          if (up && downSince[i] !== null) {
            intervals[i]!.push({ start: downSince[i] as number, end: now });
            downSince[i] = null;
          }
        }),
      );
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      downSince.forEach((since, i) => {
        if (since !== null) intervals[i]!.push({ start: since, end: performance.now() });
      });
      return intervals;
    },
  };
}
