import { existsSync } from 'node:fs';
import { readFile, readlink, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseDocument } from 'yaml';
import type { RunEvent } from '../../src/report/events.js';
import { waitFor } from '../lab/exec.js';
import { memcachedArgs, stopMemcached } from '../lab/host.js';
import { type Lab, memcachedVersion, resetLab, writeFleetPlaybook } from '../lab/index.js';
import {
  installTemplateUnit,
  removeTemplateUnit,
  secondPidfile,
  secondPort,
  startSecondInstance,
  stopExtraInstances,
  systemctl,
  unitFolder,
} from '../lab/instances.js';
import {
  compareDigests,
  digestItems,
  generateItems,
  type ItemDigest,
  loopbackConnection,
} from '../lab/items/generator.js';
import { runMemplay, taskEvents } from './memplay-cli.js';

// Two hosts that run two memcached each (hosts.<name>.instances): host1 by
// pidfile, host2 as two instances of a systemd template unit through the
// systemctl stand-in. One apply takes all four to 1.6.38 and one rollback takes
// them back, every item exact on every instance; one build per host serves both
// of its instances; and two instances of one host are never out of service at
// once — read from the run's own events and by watching both ports meanwhile.

const lab = inject('lab') as Lab;
const pidfileHost = lab.hosts[0]!;
const unitHost = lab.hosts[1]!;
// As the lab starts every first memcached: the gates compare the new start with the old.
const args = memcachedArgs;
const unit = (port: number) => `memcached@${port}.service`;
const dropIn = (port: number) => join(unitFolder(unitHost), `${unit(port)}.d`, 'memplay.conf');

interface Instance {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

const instances: readonly Instance[] = [
  { name: `host1:${pidfileHost.memcachedPort}`, host: 'host1', port: pidfileHost.memcachedPort },
  { name: `host1:${secondPort(pidfileHost)}`, host: 'host1', port: secondPort(pidfileHost) },
  { name: `host2:${unitHost.memcachedPort}`, host: 'host2', port: unitHost.memcachedPort },
  { name: `host2:${secondPort(unitHost)}`, host: 'host2', port: secondPort(unitHost) },
];

async function multiInstancePlaybook(): Promise<string> {
  const base = await writeFleetPlaybook(lab, { hosts: [1, 2], serial: 2, memcachedArgs: args });
  const document = parseDocument(await readFile(base, 'utf8'));
  for (const host of [pidfileHost, unitHost]) document.deleteIn(['hosts', host.name, 'memcached', 'port']);
  document.setIn(
    ['hosts', 'host1', 'instances'],
    [
      { port: pidfileHost.memcachedPort },
      { port: secondPort(pidfileHost), service: { pidfile: secondPidfile(pidfileHost) } },
    ],
  );
  const first = unitHost.memcachedPort;
  const second = secondPort(unitHost);
  document.setIn(['hosts', 'host2', 'become'], true);
  document.setIn(['hosts', 'host2', 'memcached', 'service'], {
    manager: 'systemd',
    unit: unit(first),
    drop_in: dropIn(first),
  });
  document.setIn(
    ['hosts', 'host2', 'instances'],
    [{ port: first }, { port: second, service: { unit: unit(second), drop_in: dropIn(second) } }],
  );
  const path = base.replace(/\.yml$/, '-instances.yml');
  await writeFile(path, document.toString());
  return path;
}

/** Each instance's items, read back whole: value, flags and expiry of every key. */
async function digests(): Promise<Map<string, Map<string, ItemDigest>>> {
  const all = new Map<string, Map<string, ItemDigest>>();
  for (const instance of instances)
    all.set(instance.name, await digestItems(loopbackConnection(instance.port)));
  return all;
}

/**
 * Watches every instance's port while `work` runs: the moments both instances of one
 * host answered nothing at once (each sample asks all four ports at the same time).
 */
async function watchPorts<T>(work: Promise<T>): Promise<{ result: T; bothDown: string[]; samples: number }> {
  const bothDown: string[] = [];
  let samples = 0;
  let done = false;
  const watching = (async () => {
    while (!done) {
      const up = await Promise.all(
        instances.map(async (i) => (await memcachedVersion(i.port, 200)) !== null),
      );
      samples += 1;
      for (const host of ['host1', 'host2']) {
        const ofHost = instances.flatMap((instance, index) => (instance.host === host ? [up[index]] : []));
        if (ofHost.every((answered) => !answered)) bothDown.push(`${host} at sample ${samples}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  })();
  try {
    return { result: await work, bothDown, samples };
  } finally {
    done = true;
    await watching;
  }
}

/** The swap task of each instance, from its task-start to its end, by the events' own clock. */
function swapSpans(events: readonly RunEvent[]): Map<string, { start: number; end: number }> {
  const spans = new Map<string, { start: number; end: number }>();
  for (const event of events as (RunEvent & { ts: string })[]) {
    if (!('task' in event) || event.task !== 'swap' || !('host' in event)) continue;
    const at = Date.parse(event.ts);
    if (event.event === 'task-start') spans.set(event.host, { start: at, end: Number.POSITIVE_INFINITY });
    if (event.event === 'task') {
      const span = spans.get(event.host);
      if (span) span.end = at;
    }
  }
  return spans;
}

function expectApartInTime(events: readonly RunEvent[]): void {
  const spans = swapSpans(events);
  for (const host of ['host1', 'host2']) {
    const [a, b] = instances.filter((instance) => instance.host === host).map((i) => spans.get(i.name));
    expect(a, `${host}: a swap of its first instance`).toBeDefined();
    expect(b, `${host}: a swap of its second instance`).toBeDefined();
    const overlap = a!.start < b!.end && b!.start < a!.end;
    expect(overlap, `${host}: its two swaps overlap in time (${JSON.stringify([a, b])})`).toBe(false);
  }
}

function batchesOf(events: readonly RunEvent[]): string[][] {
  return events.flatMap((event) =>
    event.event === 'batch' && event.phase === 'rolling' ? [[...event.hosts]] : [],
  );
}

// Each restore carries an expiry through two memcached clocks, each up to a second
// or so off the wall clock: one hop is compared within compareDigests' 2 s, and every
// stage is compared with the one before it (values and flags exact throughout).
function expectSameItems(
  before: ReadonlyMap<string, ReadonlyMap<string, ItemDigest>>,
  after: ReadonlyMap<string, ReadonlyMap<string, ItemDigest>>,
  stage: string,
  which: readonly Instance[] = instances,
): void {
  for (const instance of which) {
    expect(
      compareDigests(before.get(instance.name)!, after.get(instance.name)!),
      `${instance.name} ${stage}`,
    ).toEqual([]);
  }
}

describe('several instances on one host: two by pidfile (host1), two memcached@ units (host2)', () => {
  let playbook: string;
  /** Every instance's items as the last stage left them. */
  let previous: Map<string, Map<string, ItemDigest>>;

  beforeAll(async () => {
    // host1 compiles 1.6.38 in this run (one build for both instances); host2 receives it.
    await resetLab(lab);
    await startSecondInstance(pidfileHost, args);
    await stopMemcached(unitHost);
    await installTemplateUnit(lab, unitHost, args);
    for (const port of [unitHost.memcachedPort, secondPort(unitHost)]) {
      await systemctl(unitHost, 'start', unit(port));
      await waitFor(
        `${unit(port)} answering 1.6.18`,
        async () => (await memcachedVersion(port)) === '1.6.18',
      );
    }
    for (const [index, instance] of instances.entries()) {
      await generateItems(loopbackConnection(instance.port), {
        seed: 160 + index,
        count: 3000,
        totalBytes: 3 * 1024 * 1024,
      });
    }
    previous = await digests();
    playbook = await multiInstancePlaybook();
  }, 300_000);

  afterAll(async () => {
    await stopExtraInstances(unitHost);
    await stopExtraInstances(pidfileHost);
    await removeTemplateUnit(unitHost);
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
  }, 120_000);

  it('--list-hosts names each instance host:port, batched so no host has two in one batch', async () => {
    const listed = await runMemplay(['apply', playbook, '--list-hosts']);
    expect(listed.code, listed.stderr).toBe(0);
    const [a, b, c, d] = instances.map((i) => i.name);
    expect(listed.stdout).toContain(`batch 1 of 2: ${a}, ${c}`);
    expect(listed.stdout).toContain(`batch 2 of 2: ${b}, ${d}`);
  });

  it('apply --check plans one build per host and the batches apply runs, and changes nothing', async () => {
    const checked = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(checked.code, checked.stdout + checked.stderr).toBe(0);
    const [a, b, c, d] = instances.map((i) => i.name) as [string, string, string, string];
    const summary = checked.events.find((event) => event.event === 'plan-summary');
    expect(summary && 'batches' in summary ? summary.batches.map((batch) => batch.hosts) : []).toEqual([
      [a, c],
      [b, d],
    ]);
    const builds = new Map<string, string>(
      taskEvents(checked).flatMap((t) => (t.task === 'build' ? [[t.host, t.detail] as const] : [])),
    );
    expect(builds.get(a)).toMatch(/^build 1\.6\.38 from .*; ship it to host2:/);
    expect(builds.get(c)).toMatch(/^ship 1\.6\.38 built on host1:/);
    expect(builds.get(b)).toMatch(/^1\.6\.38 already built at /);
    expect(builds.get(d)).toMatch(/^1\.6\.38 already built at /);
    for (const instance of instances)
      expect(await memcachedVersion(instance.port), instance.name).toBe('1.6.18');
    expect(existsSync(join(pidfileHost.prefix, '1.6.38'))).toBe(false);
  }, 120_000);

  it('apply: all four on 1.6.38, one build per host, never both instances of a host down, every item exact', async () => {
    const {
      result: applied,
      bothDown,
      samples,
    } = await watchPorts(runMemplay(['apply', playbook, '--output', 'json']));
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    for (const instance of instances)
      expect(await memcachedVersion(instance.port), instance.name).toBe('1.6.38');

    const [a, b, c, d] = instances.map((i) => i.name);
    expect(batchesOf(applied.events)).toEqual([
      [a, c],
      [b, d],
    ]);
    expectApartInTime(applied.events);
    expect(samples).toBeGreaterThan(20);
    expect(bothDown).toEqual([]);

    // One build per host: host1's first instance compiles, host2's first receives it; each second instance finds it.
    const builds = taskEvents(applied).filter((t) => t.task === 'build');
    expect(builds.map((t) => [t.host, t.status])).toEqual(
      expect.arrayContaining([
        [a, 'changed'],
        [b, 'ok'],
        [c, 'changed'],
        [d, 'ok'],
      ]),
    );
    expect(builds.find((t) => t.host === a)?.detail).toMatch(/^built 1\.6\.38 in .*, shipped to host2:/);
    expect(builds.find((t) => t.host === c)?.detail).toMatch(/^received 1\.6\.38 built on host1:/);
    for (const second of [b, d]) {
      expect(builds.find((t) => t.host === second)?.detail).toMatch(/^1\.6\.38 already built at /);
    }

    // Each instance backed up and restored on its own, into its own backup folder.
    for (const instance of instances) {
      const restore = taskEvents(applied).find((t) => t.task === 'restore' && t.host === instance.name);
      expect(restore?.detail, instance.name).toMatch(/restored 3,000 items/);
      // backup.dir/<name>, the `:` written `_`: a folder of its own per instance.
      expect(existsSync(join(lab.dir, 'backups', instance.name.replace(':', '_'))), instance.name).toBe(true);
    }
    const after = await digests();
    expectSameItems(previous, after, 'after apply');
    previous = after;

    // Both pidfile instances run the new build; both units run it through their drop-ins.
    expect(await readlink(join(pidfileHost.prefix, 'current'))).toBe('1.6.38');
    expect(await readlink(join(pidfileHost.prefix, 'previous'))).toBe('1.6.18');
    for (const pidfile of [pidfileHost.pidfile, secondPidfile(pidfileHost)]) {
      const pid = (await readFile(pidfile, 'utf8')).trim();
      expect(await realpath(`/proc/${pid}/exe`)).toBe(`${pidfileHost.prefix}/1.6.38/bin/memcached`);
    }
    for (const port of [unitHost.memcachedPort, secondPort(unitHost)]) {
      const pid = (await systemctl(unitHost, 'show', '-p', 'MainPID', '--value', unit(port))).trim();
      expect(await realpath(`/proc/${pid}/exe`)).toBe(`${unitHost.prefix}/1.6.38/bin/memcached`);
      expect(await readFile(dropIn(port), 'utf8')).toContain(`"-p" "${port}"`);
    }
  }, 600_000);

  it('a second apply changes nothing on any instance', async () => {
    const again = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(taskEvents(again).filter((t) => t.status === 'changed')).toEqual([]);
  }, 300_000);

  it('rollback: every instance back on 1.6.18, never both of a host down, every item exact', async () => {
    const { result: rolled, bothDown } = await watchPorts(
      runMemplay(['rollback', playbook, '--output', 'json']),
    );
    expect(rolled.code, rolled.stdout + rolled.stderr).toBe(0);
    for (const instance of instances)
      expect(await memcachedVersion(instance.port), instance.name).toBe('1.6.18');
    const [a, b, c, d] = instances.map((i) => i.name);
    expect(batchesOf(rolled.events)).toEqual([
      [a, c],
      [b, d],
    ]);
    expectApartInTime(rolled.events);
    expect(bothDown).toEqual([]);
    const after = await digests();
    expectSameItems(previous, after, 'after rollback');
    previous = after;
  }, 600_000);

  it('--limit host1:<second port> upgrades that one instance only; its sibling keeps serving 1.6.18', async () => {
    const [first, second] = instances;
    const applied = await runMemplay(['apply', playbook, '--limit', second!.name, '--output', 'json']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    expect([...new Set(taskEvents(applied).map((t) => t.host))]).toEqual([second!.name]);
    expect(await memcachedVersion(second!.port)).toBe('1.6.38');
    expect(await memcachedVersion(first!.port)).toBe('1.6.18');
    expectSameItems(previous, await digests(), 'after the limited apply', [first!, second!]);
  }, 300_000);
});
