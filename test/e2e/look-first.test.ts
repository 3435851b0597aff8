import { connect } from 'node:net';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { PlanSummary } from '../../src/report/events.js';
import type { FactsEvent } from '../../src/report/facts-view.js';
import { describeEstimate } from '../../src/tasks/out-of-service-estimate.js';
import { formatBytes, formatCount } from '../../src/units.js';
import {
  type Lab,
  memcachedStats,
  memcachedVersion,
  resetLab,
  snapshotHost,
  writeFleetPlaybook,
} from '../lab/index.js';
import { generateItems, loopbackConnection } from '../lab/items/generator.js';
import { runMemplay, taskEvents } from './memplay-cli.js';

// Looking before acting: `memplay facts` and the concrete `apply --check` plan,
// compared with what each lab host's memcached says on its own port.

const lab = inject('lab') as Lab;
const snapshots = () => Promise.all([1, 2, 3].map((i) => snapshotHost(lab, i)));

/** Sends raw text-protocol gets so hit and miss counters move. */
function textGets(port: number, keys: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.write(`${keys.map((k) => `get ${k}\r\n`).join('')}`);
    });
    let reply = '';
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if ((reply.match(/END\r\n/g) ?? []).length === keys.length) {
        socket.destroy();
        resolve();
      }
    });
    socket.on('error', reject);
  });
}

async function statsOf(port: number): Promise<Record<string, string>> {
  const stats = await memcachedStats(port);
  if (!stats) throw new Error(`port ${port} does not answer stats`);
  return stats;
}

describe('memplay facts and apply --check on the 3-host lab', () => {
  beforeAll(async () => {
    await resetLab(lab);
    // host1 and host2 hold data (a few MB), host3 stays empty.
    for (const host of lab.hosts.slice(0, 2)) {
      await generateItems(loopbackConnection(host.memcachedPort), {
        seed: 40 + host.index,
        count: 1500 * host.index,
        totalBytes: 1500 * host.index * 1000,
      });
    }
    // host1: 3 misses, then 3 hits on keys it holds (set below), so its hit ratio is 0.5.
    const port = lab.hosts[0]!.memcachedPort;
    await new Promise<void>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () =>
        socket.write(['k1', 'k2', 'k3'].map((k) => `set look-first-${k} 0 0 1\r\nx\r\n`).join('')),
      );
      let reply = '';
      socket.on('data', (chunk: Buffer) => {
        reply += chunk.toString();
        if ((reply.match(/STORED\r\n/g) ?? []).length === 3) {
          socket.destroy();
          resolve();
        }
      });
      socket.on('error', reject);
    });
    await textGets(port, ['look-first-none1', 'look-first-none2', 'look-first-none3']);
    await textGets(port, ['look-first-k1', 'look-first-k2', 'look-first-k3']);
  });

  it('facts --output json: each host as its own port reports it (version, items, bytes, hit ratio, evictions, uptime, connections), and nothing changes', async () => {
    const playbook = await writeFleetPlaybook(lab, {});
    const before = await snapshots();
    const run = await runMemplay(['facts', playbook, '--output', 'json']);
    expect(run.code, run.stderr).toBe(0);
    const after = await snapshots();
    expect(after).toEqual(before);
    const facts = run.events as unknown as FactsEvent[];
    expect(facts.map((f) => f.host)).toEqual(['host1', 'host2', 'host3']);
    for (const [i, host] of lab.hosts.entries()) {
      const got = facts[i]!;
      const stats = await statsOf(host.memcachedPort);
      const hits = Number(stats.get_hits);
      const misses = Number(stats.get_misses);
      expect(got.running_version, host.name).toBe(await memcachedVersion(host.memcachedPort));
      expect(got.running_version, host.name).toBe('1.6.18');
      expect(got.pid, host.name).toBe(before[i]!.pid);
      expect(got.current, host.name).toBe('1.6.18');
      expect(got.builds, host.name).toEqual([{ dir: '1.6.18', version: '1.6.18' }]);
      expect(got.memcached, host.name).toMatchObject({
        port: host.memcachedPort,
        items: Number(stats.curr_items),
        bytes: Number(stats.bytes),
        limit_bytes: Number(stats.limit_maxbytes),
        get_hits: hits,
        get_misses: misses,
        hit_ratio: hits + misses === 0 ? null : hits / (hits + misses),
        evictions: Number(stats.evictions),
      });
      // These move on their own: uptime by the clock, connections by whoever is asking (memplay's probe, then ours).
      expect(Math.abs(got.memcached!.uptime_s - Number(stats.uptime)), host.name).toBeLessThanOrEqual(10);
      expect(
        Math.abs(got.memcached!.connections - Number(stats.curr_connections)),
        host.name,
      ).toBeLessThanOrEqual(1);
    }
    expect(facts[0]!.memcached).toMatchObject({ items: 1503, hit_ratio: 0.5 });
    expect(facts[1]!.memcached?.items).toBe(3000);
    expect(facts[2]!.memcached).toMatchObject({ items: 0, hit_ratio: null });
  });

  it('facts as a table: one row per host with the same numbers, and --limit selects hosts and groups', async () => {
    const playbook = await writeFleetPlaybook(lab, {});
    const run = await runMemplay(['facts', playbook]);
    expect(run.code, run.stderr).toBe(0);
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^HOST\s+VERSION\s+BUILDS\s+UPTIME\s+ITEMS\s+BYTES\s+HIT RATIO\s+EVICTIONS\s+CONNS$/,
    );
    for (const host of lab.hosts) {
      const stats = await statsOf(host.memcachedPort);
      const row = lines.find((line) => line.startsWith(`${host.name} `));
      const cells = row?.split(/\s{2,}/);
      expect(cells?.slice(0, 3), host.name).toEqual([host.name, '1.6.18', '1.6.18*']);
      expect(cells?.slice(4, 6), host.name).toEqual([
        formatCount(Number(stats.curr_items)),
        formatBytes(Number(stats.bytes)),
      ]);
      expect(cells?.[7], host.name).toBe(stats.evictions);
    }
    expect(lines.find((l) => l.startsWith('host1 '))?.split(/\s{2,}/)[6]).toBe('50.0%');
    const total = [0, 1, 2].reduce((sum, i) => sum + [1503, 3000, 0][i]!, 0);
    expect(lines.at(-1)).toContain(`3 hosts: 3 serving (3 on 1.6.18); ${formatCount(total)} items`);

    const west = await runMemplay(['facts', playbook, '--limit', 'west', '--output', 'json']);
    expect(west.code, west.stderr).toBe(0);
    expect(west.events.map((e) => (e as unknown as FactsEvent).host)).toEqual(['host2', 'host3']);
    const one = await runMemplay(['facts', playbook, '-l', 'host1']);
    expect(one.stdout.split('\n').filter((l) => /^host\d /.test(l))).toHaveLength(1);
    const none = await runMemplay(['facts', playbook, '-l', 'nosuchhost']);
    expect(none.code).toBe(5);
  });

  it('facts with a host whose key is unknown: the others are reported, that host is unreachable with its fingerprint, exit 3', async () => {
    const playbook = await writeFleetPlaybook(lab, { knownHostsWithout: [3] });
    const run = await runMemplay(['facts', playbook, '--output', 'json']);
    expect(run.code).toBe(3);
    expect(run.events.map((e) => `${e.event} ${(e as { host?: string }).host}`)).toEqual([
      'facts host1',
      'facts host2',
      'unreachable host3',
    ]);
    expect(JSON.stringify(run.events[2])).toMatch(/host-key-unknown.*SHA256:/);
  });

  it('apply --check lists each host\'s concrete actions with the real sizes ("back up N items / X MB") and a fleet summary, changing nothing', async () => {
    const playbook = await writeFleetPlaybook(lab, {});
    const before = await snapshots();
    const json = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    const plain = await runMemplay(['apply', playbook, '--check', '--output', 'plain']);
    expect(json.code, json.stderr).toBe(0);
    expect(plain.code, plain.stderr).toBe(0);
    expect(await snapshots()).toEqual(before);

    const planLines = plain.stdout.slice(plain.stdout.indexOf('\nPLAN\n') + 1).split('\n');
    let backupItems = 0;
    let backupBytes = 0;
    for (const [i, host] of lab.hosts.entries()) {
      const stats = await statsOf(host.memcachedPort);
      const items = Number(stats.curr_items);
      const bytes = Number(stats.bytes);
      backupItems += items;
      backupBytes += bytes;
      // JSON: the backup plan carries the exact numbers.
      const backup = taskEvents(json).find((t) => t.host === host.name && t.task === 'backup');
      expect(backup?.actions, host.name).toEqual([
        expect.objectContaining({ kind: 'backup', items, bytes, version: '1.6.18' }),
      ]);
      const swap = taskEvents(json).find((t) => t.host === host.name && t.task === 'swap');
      expect(
        swap?.actions?.map((a) => a.kind),
        host.name,
      ).toEqual(['stop', 'repoint', 'start']);
      // Text: the host's actions as an indented list under its name.
      const start = planLines.indexOf(host.name);
      const end = planLines.findIndex((line, n) => n > start && !line.startsWith('  '));
      const list = planLines.slice(start + 1, end);
      expect(list, host.name).toContain(
        `  - back up ${formatCount(items)} items / ${formatBytes(bytes)} from 1.6.18 to ${lab.dir}/backups/${host.name}/ via meta protocol`,
      );
      expect(list, host.name).toContain(
        `  - stop 1.6.18 (pid ${before[i]!.pid}) on port ${host.memcachedPort}: out of service until restored; ${describeEstimate('cold', bytes)}`,
      );
      expect(list, host.name).toContain(`  - restart on port ${host.memcachedPort} as 1.6.38`);
      expect(list[0], host.name).toMatch(
        host.name === 'host1'
          ? /^ {2}- build 1\.6\.38 from memcached_1\.6\.38\.orig\.tar\.xz \(\d+\.\d KiB\) into \/home\/mplab\d+\/memcached\/1\.6\.38, then ship it to host2, host3$/
          : /^ {2}- receive 1\.6\.38 built on host1 \(same platform\) into /,
      );
    }
    expect(backupItems).toBe(1503 + 3000);
    const summary = json.events.find((e) => e.event === 'plan-summary') as unknown as PlanSummary;
    expect(summary).toMatchObject({
      hosts: 3,
      changing: ['host1', 'host2', 'host3'],
      compile: [{ host: 'host1', version: '1.6.38' }],
      ship: [
        { host: 'host2', from: 'host1', version: '1.6.38' },
        { host: 'host3', from: 'host1', version: '1.6.38' },
      ],
      backup_hosts: 3,
      backup_items: backupItems,
      backup_bytes: backupBytes,
      max_out_of_service: 1,
    });
    expect(plain.stdout).toContain(
      `\nSUMMARY\n  hosts: 3 of 3 would change (host1, host2, host3); 0 unchanged\n  builds: compile 1.6.38 on host1; ship host1's build to host2, host3\n  back up: ${formatCount(backupItems)} items / ${formatBytes(backupBytes)} on 3 hosts\n  out of service: at most 1 host at a time, in 3 batches: host1 | host2 | host3\n`,
    );
    // apply's own details are unchanged: the action list is an addition.
    expect(taskEvents(json).find((t) => t.host === 'host1' && t.task === 'backup')?.detail).toMatch(
      /^back up 1,503 items \/ [\d.]+ (KiB|MiB) from 1\.6\.18 to /,
    );
  });
});
