import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { readBackupItems } from '../../src/memcached/backup-reader.js';
import { type Lab, memcachedVersion, resetLab, writeFleetPlaybook } from '../lab/index.js';
import {
  compareDigests,
  digestItems,
  generateItems,
  type ItemDigest,
  loopbackConnection,
} from '../lab/items/generator.js';
import { recapOf, runMemplay, spawnMemplay, taskEvents } from './memplay-cli.js';

const lab = inject('lab') as Lab;

const direct = loopbackConnection;

/** A plain text-protocol exchange for the test's own client writes. */
async function textCommand(port: number, command: Buffer | string, until: RegExp): Promise<string> {
  const socket = await direct(port)();
  return new Promise((resolve, reject) => {
    let reply = '';
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (until.test(reply)) {
        socket.destroy();
        resolve(reply);
      }
    });
    socket.on('error', reject);
    socket.write(command);
  });
}

const setValue = (port: number, key: string, value: string) =>
  textCommand(port, `set ${key} 7 0 ${Buffer.byteLength(value)}\r\n${value}\r\n`, /STORED\r\n|ERROR.*\r\n/);
const getValue = async (port: number, key: string) => {
  const reply = await textCommand(port, `get ${key}\r\n`, /END\r\n/);
  const match = /^VALUE \S+ \d+ \d+\r\n([\s\S]*?)\r\nEND\r\n$/.exec(reply);
  return match ? match[1] : null;
};
const deleteKey = (port: number, key: string) =>
  textCommand(port, `delete ${key}\r\n`, /DELETED\r\n|NOT_FOUND\r\n/);

describe('every cached item crosses the upgrade', () => {
  beforeAll(async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
  });

  it('after apply, an independent dump of each new instance matches the old one item for item (~100k adversarial items, ~120 MB per host)', async () => {
    const before = new Map<number, Map<string, ItemDigest>>();
    const expiring = new Map<number, string[]>();
    await Promise.all(
      lab.hosts.map(async (host) => {
        const set = await generateItems(direct(host.memcachedPort), {
          seed: host.index,
          count: 100_000,
          totalBytes: 120 * 1024 * 1024,
          expiringSoon: 50,
          shortTtlSeconds: 3,
        });
        expect(set.count).toBe(100_000);
        expiring.set(host.index, set.expiringSoon);
        before.set(host.index, await digestItems(direct(host.memcachedPort)));
      }),
    );
    await new Promise((r) => setTimeout(r, 3500)); // the short-TTL items run out before the backup

    const run = await runMemplay(['apply', await writeFleetPlaybook(lab, {}), '--output', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    for (const host of lab.hosts) {
      expect(await memcachedVersion(host.memcachedPort)).toBe('1.6.38');
      const after = await digestItems(direct(host.memcachedPort));
      const expected = new Map(before.get(host.index));
      for (const key of expiring.get(host.index) ?? []) expected.delete(key);
      expect(expected.size).toBeGreaterThan(99_000);
      expect(compareDigests(expected, after), `host${host.index}`).toEqual([]);
    }
    const tasks = taskEvents(run);
    for (const host of ['host1', 'host2', 'host3']) {
      const restore = tasks.find((t) => t.host === host && t.task === 'restore');
      expect(restore?.status).toBe('changed');
      expect(restore?.detail).toMatch(/restored 99,9\d\d items/);
      expect(tasks.find((t) => t.host === host && t.task === 'verify')?.detail).toContain(
        'sampled items match the backup',
      );
    }
  });

  it('writes, updates and deletes during the backup survive through the delta pass; a client write to the new instance during restore wins over the backup', async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
    const host = lab.hosts[0]!;
    const port = host.memcachedPort;
    await generateItems(direct(port), { seed: 42, count: 60_000, totalBytes: 80 * 1024 * 1024 });
    for (let i = 0; i < 200; i++) await setValue(port, `mut:${i}`, `original-${i}`);

    const playbook = await writeFleetPlaybook(lab, { hosts: [1] });
    let backupDone = false;
    const live = spawnMemplay(['apply', playbook], (event) => {
      if (event.event === 'task' && event.task === 'backup') backupDone = true;
    });
    const { events, exited } = live;

    // Mutate while the full pass runs; stop once memplay reports the backup task done
    // (the delta pass runs after that, right before the stop).
    const expected = new Map<string, string | null>();
    let round = 0;
    while (!backupDone && !live.finished()) {
      const i = round % 200;
      if (round % 3 === 0) {
        await setValue(port, `mut:${i}`, `updated-${round}`);
        expected.set(`mut:${i}`, `updated-${round}`);
      } else if (round % 3 === 1) {
        await deleteKey(port, `mut:${i}`);
        expected.set(`mut:${i}`, null);
      } else {
        await setValue(port, `new:${round}`, `new-${round}`);
        expected.set(`new:${round}`, `new-${round}`);
      }
      round++;
      if (round > 50_000) break;
    }
    expect(round).toBeGreaterThan(10);

    // When the old instance is down, the backup is sealed: take the last item it holds
    // (restored last) and write it to the new instance as soon as it answers.
    while ((await memcachedVersion(port)) === '1.6.18') await new Promise((r) => setTimeout(r, 2));
    const dir = join(lab.dir, 'backups', 'host1');
    const files = (await readdir(dir)).filter((f) => f.endsWith('.mpbak')).sort();
    let lastKey: Buffer | undefined;
    for await (const item of readBackupItems(join(dir, files.at(-1)!))) lastKey = Buffer.from(item.key);
    while ((await memcachedVersion(port)) !== '1.6.38') await new Promise((r) => setTimeout(r, 1));
    const clientKey = lastKey!.toString('latin1');
    expect(/^[\x21-\x7e]+$/.test(clientKey)).toBe(true);
    await setValue(port, clientKey, 'written-by-a-client-during-restore');
    expected.delete(clientKey);

    expect(await exited).toBe(0);
    expect(recapOf({ code: 0, stdout: '', stderr: '', events })).toMatchObject({ host1: { failed: 0 } });
    for (const [key, value] of expected) expect(await getValue(port, key), key).toBe(value);
    expect(await getValue(port, clientKey)).toBe('written-by-a-client-during-restore');
    const restore = events.find((e) => e.event === 'task' && e.task === 'restore');
    expect(JSON.stringify(restore)).toMatch(/1 kept as clients rewrote them/);
  });
});
