import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { parse, parseDocument } from 'yaml';
import {
  ensureBuild,
  type Lab,
  memcachedStats,
  memcachedVersion,
  resetHost,
  resetLab,
  writeFleetPlaybook,
} from '../lab/index.js';
import { generateItems, loopbackConnection } from '../lab/items/generator.js';
import { recapOf, runMemplay, taskEvents } from './memplay-cli.js';

// examples/drain-before-swap.yml on the lab: its `tasks:` as written, with the
// load balancer's client (/usr/local/bin/lb-ctl) replaced by a stand-in that
// records each call and the environment memplay gave it, and fails on demand.

const lab = inject('lab') as Lab;
const hosts = lab.hosts.slice(0, 2);
const lbCtl = join(lab.dir, 'bin', 'lb-ctl');
const lbCtlScript = `#!/bin/sh
# lb-ctl stand-in (test/e2e/custom-tasks.test.ts): one line per call, then fail if asked to.
printf '%s|%s|%s|%s|%s|%s|%s|%s|%s\\n' "$1" "$MEMPLAY_STEP" "$MEMPLAY_HOST" "$MEMPLAY_PHASE" \\
  "$MEMPLAY_RUNNING_VERSION" "$MEMPLAY_VERSION_BEFORE" "$MEMPLAY_TARGET_VERSION" "$MEMPLAY_PORT" "$*" >> "$HOME/lb-ctl.log"
if [ -e "$HOME/lb-ctl-fail-$1" ]; then echo "lb-ctl: the balancer refused to $1 $MEMPLAY_ADDRESS" >&2; exit 3; fi
`;

interface Call {
  readonly verb: string;
  readonly step: string;
  readonly host: string;
  readonly phase: string;
  readonly running: string;
  readonly before: string;
  readonly target: string;
  readonly port: string;
  readonly argv: string;
}

async function calls(home: string): Promise<Call[]> {
  const log = join(home, 'lb-ctl.log');
  if (!existsSync(log)) return [];
  return (await readFile(log, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => {
      const [verb, step, host, phase, running, before, target, port, argv] = line.split('|') as string[];
      return { verb, step, host, phase, running, before, target, port, argv } as Call;
    });
}

async function examplePlaybook(): Promise<string> {
  const example = parse(await readFile(join(lab.repoRoot, 'examples', 'drain-before-swap.yml'), 'utf8')) as {
    tasks: Array<string | { command: string; argv: string[] }>;
  };
  const tasks = example.tasks.map((step) =>
    typeof step === 'string' ? step : { ...step, argv: [lbCtl, ...step.argv.slice(1)] },
  );
  expect(tasks.filter((step) => typeof step !== 'string')).toHaveLength(2);
  const base = await writeFleetPlaybook(lab, { hosts: hosts.map((h) => h.index) });
  const document = parseDocument(await readFile(base, 'utf8'));
  document.set('tasks', tasks);
  const path = base.replace(/\.yml$/, '-drain.yml');
  await writeFile(path, document.toString());
  return path;
}

describe('examples/drain-before-swap.yml: command steps between the built-in tasks', () => {
  let playbook: string;

  beforeAll(async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
    for (const host of hosts) await ensureBuild(host, '1.6.38');
    await mkdir(join(lab.dir, 'bin'), { recursive: true });
    await writeFile(lbCtl, lbCtlScript, { mode: 0o755 });
    playbook = await examplePlaybook();
  });

  beforeEach(async () => {
    for (const host of hosts) {
      await rm(join(host.home, 'lb-ctl.log'), { force: true });
      for (const verb of ['drain', 'enable'])
        await rm(join(host.home, `lb-ctl-fail-${verb}`), { force: true });
    }
  });

  it('apply --check shows each command with the environment it would get, and runs none', async () => {
    const run = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const drain = taskEvents(run).find((t) => t.host === 'host1' && t.task === 'lb-drain');
    expect(drain?.status).toBe('changed');
    expect(drain?.detail).toContain(
      `run env -- MEMPLAY_HOST=host1 MEMPLAY_ADDRESS=127.0.0.1 MEMPLAY_PORT=${hosts[0]!.memcachedPort}`,
    );
    expect(drain?.detail).toContain(`MEMPLAY_TARGET_VERSION=1.6.38 MEMPLAY_RUNNING_VERSION=1.6.18`);
    expect(drain?.detail).toMatch(
      /MEMPLAY_PHASE=rolling MEMPLAY_STEP=lb-drain \S+\/lb-ctl drain --wait-connections 30$/,
    );
    for (const host of hosts) expect(await calls(host.home)).toEqual([]);
  });

  it('apply runs lb-drain after backup and before swap, lb-enable after verify, on each host in turn, with the host facts in the environment', async () => {
    for (const host of hosts) {
      await generateItems(loopbackConnection(host.memcachedPort), {
        seed: host.index,
        count: 1000,
        totalBytes: 1024 * 1024,
      });
    }
    const run = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const order = taskEvents(run).map((t) => `${t.host}:${t.task}`);
    for (const host of hosts) {
      const own = order.filter((entry) => entry.startsWith(`${host.name}:`)).map((e) => e.split(':')[1]);
      expect(own).toEqual([
        'version_check',
        'build',
        'backup',
        'lb-drain',
        'swap',
        'restore',
        'verify',
        'lb-enable',
      ]);
    }
    // serial: 1 — host1 is back in the pool before host2 leaves it.
    expect(order.indexOf('host1:lb-enable')).toBeLessThan(order.indexOf('host2:lb-drain'));

    for (const host of hosts) {
      expect(await calls(host.home)).toEqual([
        {
          verb: 'drain',
          step: 'lb-drain',
          host: host.name,
          phase: 'rolling',
          running: '1.6.18',
          before: '1.6.18',
          target: '1.6.38',
          port: String(host.memcachedPort),
          argv: 'drain --wait-connections 30',
        },
        {
          verb: 'enable',
          step: 'lb-enable',
          host: host.name,
          phase: 'rolling',
          running: '1.6.38',
          before: '1.6.18',
          target: '1.6.38',
          port: String(host.memcachedPort),
          argv: 'enable',
        },
      ]);
      expect(await memcachedVersion(host.memcachedPort)).toBe('1.6.38');
      expect(Number((await memcachedStats(host.memcachedPort))?.curr_items)).toBe(1000);
    }
  });

  it('a second apply drains nobody: the hosts already run 1.6.38 (when: upgrading)', async () => {
    const run = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(recapOf(run)).toMatchObject({ host1: { changed: 0 }, host2: { changed: 0 } });
    // Both hosts are already on the target, so they share one rolling batch: find host1's own step.
    expect(taskEvents(run).find((t) => t.task === 'lb-drain' && t.host === 'host1')?.detail).toMatch(
      /^not run: host1 already ran 1\.6\.38/,
    );
    for (const host of hosts) expect(await calls(host.home)).toEqual([]);
  });

  it('lb-drain fails: the host fails before swap and keeps serving 1.6.18 under the same pid', async () => {
    await resetHost(lab, 1);
    await ensureBuild(hosts[0]!, '1.6.38');
    const host = hosts[0]!;
    const pidBefore = (await memcachedStats(host.memcachedPort))?.pid;
    await writeFile(join(host.home, 'lb-ctl-fail-drain'), '');
    const run = await runMemplay(['apply', playbook, '--limit', 'host1', '--output', 'json']);
    expect(run.code).toBe(2);
    const tasks = taskEvents(run);
    const drain = tasks.find((t) => t.task === 'lb-drain');
    expect(drain?.status).toBe('failed');
    expect(drain?.detail).toContain('lb-ctl exited 3');
    expect(drain?.detail).toContain('lb-ctl: the balancer refused to drain 127.0.0.1');
    expect(drain?.detail).toContain('nothing was stopped, the old instance keeps serving');
    expect(tasks.filter((t) => t.task === 'swap').map((t) => t.status)).toEqual(['skipped']);
    expect(tasks.some((t) => t.task === 'rollback')).toBe(false);
    expect(await memcachedVersion(host.memcachedPort)).toBe('1.6.18');
    expect((await memcachedStats(host.memcachedPort))?.pid).toBe(pidBefore);
  });

  it('lb-enable fails after swap: the host is rolled back to 1.6.18 with its items', async () => {
    const host = hosts[0]!;
    await resetHost(lab, 1);
    await ensureBuild(hosts[0]!, '1.6.38');
    await generateItems(loopbackConnection(host.memcachedPort), {
      seed: 9,
      count: 500,
      totalBytes: 512 * 1024,
    });
    await writeFile(join(host.home, 'lb-ctl-fail-enable'), '');
    const run = await runMemplay(['apply', playbook, '--limit', 'host1', '--output', 'json']);
    expect(run.code).toBe(2);
    const tasks = taskEvents(run);
    expect(tasks.find((t) => t.task === 'lb-enable')?.detail).toContain(
      'the host is rolled back to the build it ran before',
    );
    const rollback = tasks.find((t) => t.task === 'rollback');
    expect(rollback?.status).toBe('changed');
    expect(rollback?.detail).toMatch(/rolled back to 1\.6\.18, serving on port \d+ with 500 items/);
    expect(rollback?.detail).toContain('(after lb-enable failed)');
    expect(await memcachedVersion(host.memcachedPort)).toBe('1.6.18');
    expect(Number((await memcachedStats(host.memcachedPort))?.curr_items)).toBe(500);
    expect((await calls(host.home)).map((c) => c.verb)).toEqual(['drain', 'enable']);
  });
});
