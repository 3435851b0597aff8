import { readFile, writeFile } from 'node:fs/promises';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { FactsEvent } from '../../src/report/facts-view.js';
import {
  type Lab,
  memcachedVersion,
  resetLab,
  snapshotHost,
  startWithArgs,
  writeFleetPlaybook,
} from '../lab/index.js';
import { compareDigests, digestItems, generateItems, loopbackConnection } from '../lab/items/generator.js';
import { runMemplay, taskEvents } from './memplay-cli.js';

// The setup path: memplay must reach memcached where it really listens, and a
// playbook that describes another instance than the one running must fail the
// host before anything changes — in --check as in apply.

const lab = inject('lab') as Lab;
const host1 = () => lab.hosts[0]!;

afterAll(async () => {
  await resetLab(lab);
});

describe('memcached bound to the host’s own address (-l), not to 127.0.0.1', () => {
  it('a second loopback address: facts see it, --check plans its data, apply carries every item there', async () => {
    await resetLab(lab);
    const host = host1();
    const args = ['-l', '127.0.0.2', '-m', '256'];
    await startWithArgs(host, lab.baselineVersion, args, '127.0.0.2');
    // Nothing answers where memplay used to look.
    expect(await memcachedVersion(host.memcachedPort)).toBeNull();
    const at = loopbackConnection(host.memcachedPort, '127.0.0.2');
    await generateItems(at, { seed: 71, count: 3000, totalBytes: 3_000_000 });
    const before = await digestItems(at);
    expect(before.size).toBe(3000);
    const playbook = await writeFleetPlaybook(lab, { hosts: [1], memcachedArgs: args });

    const facts = await runMemplay(['facts', playbook, '--output', 'json']);
    expect(facts.code, facts.stderr).toBe(0);
    const row = JSON.parse(facts.stdout.trim().split('\n')[0] as string) as FactsEvent;
    expect(row).toMatchObject({ running_version: lab.baselineVersion, problem: null });
    expect(row.memcached?.items).toBe(3000);
    expect(row.command_line).toEqual(expect.arrayContaining(['-l', '127.0.0.2']));

    const check = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(check.code, check.stdout).toBe(0);
    const backupPlan = taskEvents(check).find((e) => e.task === 'backup');
    expect(backupPlan?.detail).toMatch(/3,000 items/);

    const apply = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(await memcachedVersion(host.memcachedPort, 1_000, '127.0.0.2')).toBe(lab.targetVersion);
    expect(await memcachedVersion(host.memcachedPort)).toBeNull();
    expect(compareDigests(before, await digestItems(at))).toEqual([]);
  });

  it('a list of addresses: reached on one of them; a playbook -l that would move it fails before anything changes', async () => {
    await resetLab(lab);
    const host = host1();
    await startWithArgs(host, lab.baselineVersion, ['-l', '127.0.0.3,127.0.0.2', '-m', '256'], '127.0.0.2');
    const at = loopbackConnection(host.memcachedPort, '127.0.0.3');
    await generateItems(at, { seed: 72, count: 500, totalBytes: 500_000 });

    const same = await writeFleetPlaybook(lab, { hosts: [1], memcachedArgs: ['-l', '127.0.0.3,127.0.0.2'] });
    const facts = await runMemplay(['facts', same, '--output', 'json']);
    const row = JSON.parse(facts.stdout.trim().split('\n')[0] as string) as FactsEvent;
    expect(row).toMatchObject({ running_version: lab.baselineVersion, problem: null });
    expect(row.memcached?.items).toBe(500);

    // The lab's usual args say 127.0.0.1: the new build would listen where no client is.
    const moved = await writeFleetPlaybook(lab, { hosts: [1] });
    const { pid, files } = await snapshotHost(lab, 1);
    for (const mode of [['--check'], []]) {
      const run = await runMemplay(['apply', moved, ...mode, '--output', 'json']);
      expect(run.code, run.stdout).toBe(2);
      const failed = taskEvents(run).find((e) => e.status === 'failed');
      expect(failed?.task).toBe('version_check');
      expect(failed?.detail).toContain('listens on 127.0.0.3,127.0.0.2');
      expect(failed?.detail).toMatch(
        /memcached\.args \(.*fleet.*\.yml:\d+:\d+\) would start \S+ on 127\.0\.0\.1/,
      );
    }
    expect(await snapshotHost(lab, 1)).toMatchObject({ pid, alive: true, files });
    expect((await digestItems(at)).size).toBe(500);
  });
});

describe('a playbook port that is not the running memcached’s', () => {
  it('--check and apply fail the host at version_check naming both ports and the playbook line; nothing changes', async () => {
    await resetLab(lab);
    const host3 = lab.hosts[2]!;
    const right = await writeFleetPlaybook(lab, {});
    const wrongPort = host3.memcachedPort + 1;
    const text = await readFile(right, 'utf8');
    const wrong = right.replace(/\.yml$/, '-wrong-port.yml');
    await writeFile(wrong, text.replace(`port: ${host3.memcachedPort}`, `port: ${wrongPort}`));
    const line = text.split('\n').findIndex((l) => l.includes(`port: ${host3.memcachedPort}`)) + 1;
    const before = await Promise.all([1, 2, 3].map((i) => snapshotHost(lab, i)));

    for (const mode of [['--check'], []]) {
      const run = await runMemplay(['apply', wrong, ...mode, '--output', 'json', '--limit', 'host3']);
      expect(run.code, run.stdout).toBe(2);
      const failed = taskEvents(run).find((e) => e.host === 'host3' && e.status === 'failed');
      expect(failed?.task).toBe('version_check');
      expect(failed?.detail).toContain(
        `listening on port ${host3.memcachedPort}, but memcached.port is ${wrongPort}`,
      );
      expect(failed?.detail).toContain(`${wrong}:${line}:`);
      expect(taskEvents(run).filter((e) => e.status === 'changed')).toEqual([]);
    }
    // No second daemon on the wrong port, the running one untouched.
    expect(await memcachedVersion(wrongPort)).toBeNull();
    expect(await Promise.all([1, 2, 3].map((i) => snapshotHost(lab, i)))).toEqual(before);
  });
});
