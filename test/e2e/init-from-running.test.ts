import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import type { PlanSummary, RunEvent } from '../../src/report/events.js';
import { type Lab, resetLab, snapshotHost, startWithArgs, writeFleetPlaybook } from '../lab/index.js';
import { tarballPath } from '../lab/layout.js';
import { pinnedSha256 } from '../lab/sources.js';
import { type MemplayRun, runMemplay, taskEvents } from './memplay-cli.js';

// `memplay init --from-running` on the lab: three hosts on 127.0.0.1, told apart by
// their ssh ports, one of them running with arguments of its own. The playbook it
// writes must describe them so exactly that the first `apply --check` objects to nothing.

const lab = inject('lab') as Lab;
const snapshots = () => Promise.all(lab.hosts.map((host) => snapshotHost(lab, host.index)));

// host2 runs with other memory, connection and item size settings than its neighbours.
const host2Args = ['-l', '127.0.0.1', '-m', '128', '-c', '2048', '-I', '2m'];

type GateEvent = Extract<RunEvent, { event: 'gate' }>;

function gates(run: MemplayRun): GateEvent[] {
  return run.events.filter((e): e is GateEvent => e.event === 'gate');
}

function summaryOf(run: MemplayRun): PlanSummary {
  return run.events.find((e) => e.event === 'plan-summary') as unknown as PlanSummary;
}

describe('memplay init --from-running on the 3-host lab', () => {
  beforeAll(async () => {
    await resetLab(lab);
    const host2 = lab.hosts[1]!;
    await startWithArgs(host2, lab.baselineVersion, host2Args);
  });
  afterAll(async () => {
    await resetLab(lab);
  });

  it('writes a playbook of what each host runs, changing nothing, and apply --check on it plans every host with no gate or version_check failure', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memplay-init-e2e-'));
    const file = join(dir, 'fleet.yml');
    const sha256 = pinnedSha256().get(lab.targetVersion) as string;
    const before = await snapshots();
    const init = await runMemplay([
      'init',
      file,
      '--from-running',
      ...lab.hosts.map((host) => `${host.user}@127.0.0.1:${host.sshPort}`),
      '--identity-file',
      lab.identityFile,
      '--known-hosts',
      lab.knownHosts,
      '--version',
      lab.targetVersion,
      '--source',
      tarballPath(lab.targetVersion),
      '--sha256',
      sha256,
      '--backup-dir',
      join(lab.dir, 'backups'),
    ]);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toContain(`${file}: written and valid`);
    expect(init.stderr).not.toMatch(/warning/i);
    expect(await snapshots()).toEqual(before);

    // What the file says, host by host: each one's own port, prefix and pidfile, and its arguments.
    const doc = parse(await readFile(file, 'utf8'));
    const names = lab.hosts.map((host) => `127.0.0.1-${host.sshPort}`);
    expect(Object.keys(doc.hosts)).toEqual(names);
    expect(doc.defaults.ssh).toEqual({ identity_file: lab.identityFile, known_hosts: lab.knownHosts });
    for (const [i, host] of lab.hosts.entries()) {
      const entry = doc.hosts[names[i]!];
      const args = entry.memcached.args ?? doc.defaults.memcached?.args;
      expect(entry, host.name).toMatchObject({
        address: '127.0.0.1',
        ssh: { user: host.user, port: host.sshPort },
        memcached: {
          port: host.memcachedPort,
          prefix: host.prefix,
          service: { manager: 'pidfile', pidfile: host.pidfile },
        },
      });
      expect(args, host.name).toEqual(i === 1 ? host2Args : ['-l', '127.0.0.1', '-m', '256']);
    }

    const check = await runMemplay(['apply', file, '--check', '--output', 'json']);
    expect(check.code, `${check.stdout}\n${check.stderr}`).toBe(0);
    expect(await snapshots()).toEqual(before);
    const summary = summaryOf(check);
    expect(summary).toMatchObject({ changing: names, failed: [], unreachable: [], failures: [] });
    for (const name of names) {
      const tasks = taskEvents(check).filter((t) => t.host === name);
      expect(
        tasks.map((t) => t.task),
        name,
      ).toEqual(['version_check', 'build', 'backup', 'swap', 'restore', 'verify']);
      expect(tasks.find((t) => t.task === 'version_check')?.status, name).toBe('ok');
      expect(tasks.find((t) => t.task === 'verify')?.detail, name).toContain(
        'gates: settings predicted unchanged for clients',
      );
      const settings = gates(check).find((g) => g.host === name && g.gate === 'settings');
      expect(settings?.status, name).toBe('passed');
      expect(settings && 'differences' in settings ? settings.differences : undefined, name).toEqual([]);
    }
    expect(gates(check).filter((g) => g.status === 'failed')).toEqual([]);
  });

  it("the lab's hand-written playbook, whose shared args do not match host2, is caught by the same check: what init avoids", async () => {
    const check = await runMemplay(['apply', await writeFleetPlaybook(lab), '--check', '--output', 'json']);
    expect(check.code).toBe(2);
    expect(summaryOf(check).failed).toEqual(['host2']);
    const settings = gates(check).find((g) => g.host === 'host2' && g.gate === 'settings');
    expect(settings?.status).toBe('failed');
    expect(settings?.detail).toMatch(/maxconns 2048 → 1024/);
  });
});
