import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { PlanSummary } from '../../src/report/events.js';
import type { FactsEvent } from '../../src/report/facts-view.js';
import { type Lab, type LabHost, resetLab, snapshotHost } from '../lab/index.js';
import { tarballPath } from '../lab/layout.js';
import { pinnedSha256 } from '../lab/sources.js';
import { runMemplay, taskEvents } from './memplay-cli.js';

// hosts_from on the lab: the three hosts written as an Ansible INI inventory (address,
// ssh port and user, memcached port as host vars), a playbook that adds only what
// Ansible does not know (each host's prefix and pidfile), and --limit on inventory groups.

const lab = inject('lab') as Lab;
const snapshots = () => Promise.all(lab.hosts.map((host) => snapshotHost(lab, host.index)));

function hostLine(host: LabHost): string {
  return `${host.name} ansible_port=${host.sshPort} ansible_user=${host.user} memcached_port=${host.memcachedPort}`;
}

/** host1 is cache_east, host2 and host3 cache_west, both children of cache. */
function inventory(): string {
  const [host1, host2, host3] = lab.hosts as [LabHost, LabHost, LabHost];
  return `# The lab as an Ansible inventory.
[cache_east]
${hostLine(host1)}

[cache_west]
${hostLine(host2)}
${hostLine(host3)}

[cache:children]
cache_east
cache_west

[cache:vars]
ansible_host=127.0.0.1
ansible_ssh_private_key_file=${lab.identityFile}
`;
}

function playbook(): string {
  const version = lab.targetVersion;
  const prefixes = lab.hosts
    .map(
      (host) => `  ${host.name}:
    memcached:
      prefix: ${host.prefix}
      service: { manager: pidfile, pidfile: ${host.pidfile} }
`,
    )
    .join('');
  return `name: lab upgrade from an inventory
target:
  version: "${version}"
  source:
    path: ${tarballPath(version)}
    sha256: ${pinnedSha256().get(version)}
hosts_from: inventory.ini
defaults:
  ssh:
    known_hosts: ${lab.knownHosts}
    config_file: none
  memcached:
    args: ["-l", "127.0.0.1", "-m", "256"]
backup:
  dir: ${join(lab.dir, 'backups')}
hosts:
${prefixes}`;
}

describe('hosts_from: the lab fleet from an Ansible INI inventory', () => {
  let fleet: string;

  beforeAll(async () => {
    await resetLab(lab);
    const dir = join(lab.dir, 'playbooks', 'hosts-from');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'inventory.ini'), inventory());
    fleet = join(dir, 'fleet.yml');
    await writeFile(fleet, playbook());
  });

  it('facts --limit on an inventory group reaches exactly its hosts, on the ssh and memcached ports the inventory gives', async () => {
    const before = await snapshots();
    const west = await runMemplay(['facts', fleet, '--limit', 'cache_west', '--output', 'json']);
    expect(west.code, west.stderr).toBe(0);
    const facts = west.events as unknown as FactsEvent[];
    expect(facts.map((f) => f.host)).toEqual(['host2', 'host3']);
    for (const [i, host] of [lab.hosts[1], lab.hosts[2]].entries()) {
      expect(facts[i]?.memcached?.port, host?.name).toBe(host?.memcachedPort);
      expect(facts[i]?.running_version, host?.name).toBe(lab.baselineVersion);
      expect(facts[i]?.pid, host?.name).toBe(before[(host?.index ?? 0) - 1]?.pid);
    }
    // The parent group holds its children's hosts; ! excludes a child.
    const parent = await runMemplay(['facts', fleet, '--limit', 'cache:!cache_west', '--output', 'json']);
    expect(parent.code, parent.stderr).toBe(0);
    expect((parent.events as unknown as FactsEvent[]).map((f) => [f.host, f.memcached?.port])).toEqual([
      ['host1', lab.hosts[0]?.memcachedPort],
    ]);
    expect(await snapshots()).toEqual(before);
  });

  it('apply --check --limit cache_west plans exactly that group, with the inventory ports and the playbook prefixes, changing nothing', async () => {
    const before = await snapshots();
    const run = await runMemplay(['apply', fleet, '--check', '--limit', 'cache_west', '--output', 'json']);
    expect(run.code, run.stderr).toBe(0);
    expect(await snapshots()).toEqual(before);
    const summary = run.events.find((e) => e.event === 'plan-summary') as unknown as PlanSummary;
    expect(summary).toMatchObject({ hosts: 2, changing: ['host2', 'host3'] });
    expect(new Set(taskEvents(run).map((t) => t.host))).toEqual(new Set(['host2', 'host3']));
    for (const host of lab.hosts.slice(1)) {
      const swap = taskEvents(run).find((t) => t.host === host.name && t.task === 'swap');
      const start = swap?.actions?.find((a) => a.kind === 'start');
      expect(start, host.name).toMatchObject({ port: host.memcachedPort });
      const stop = swap?.actions?.find((a) => a.kind === 'stop');
      expect(stop?.text, host.name).toContain(`pid ${before[host.index - 1]?.pid}`);
      const build = taskEvents(run).find((t) => t.host === host.name && t.task === 'build');
      expect(JSON.stringify(build?.actions), host.name).toContain(`${host.prefix}/${lab.targetVersion}`);
    }
  });
});
