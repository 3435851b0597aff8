import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatDiagnostic, PlaybookError } from '../../src/errors.js';
import {
  loadPlaybook,
  loadPlaybookForRun,
  selectHosts,
  validatePlaybookFile,
} from '../../src/playbook/index.js';
import type { Playbook } from '../../src/playbook/types.js';
import { head } from '../support/playbook-helpers.js';

// hosts_from: an Ansible inventory (INI or YAML) as the playbook's hosts and groups.

const fixtures = 'test/fixtures/inventories';
const folders: string[] = [];
afterAll(() => Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true }))));

/** Writes `files` (name → text) into a fresh folder; returns the folder. */
async function folderWith(files: Record<string, string>): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'memplay-inventory-'));
  folders.push(folder);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(folder, name)), { recursive: true });
    await writeFile(join(folder, name), text);
  }
  return folder;
}

// A playbook that takes its hosts from `inventory` and reads no ssh config.
function playbookFrom(inventory: string, rest = ''): string {
  return `${head}hosts_from: ${inventory}
defaults:
  ssh: { config_file: none }
${rest}`;
}

/** `memplay validate`'s lines for fleet.yml among `files`, with the folder left out of the paths. */
async function problems(files: Record<string, string>): Promise<string[]> {
  const folder = await folderWith(files);
  const found = await validatePlaybookFile(join(folder, 'fleet.yml'));
  return found.map((d) => formatDiagnostic(d).replaceAll(`${folder}/`, ''));
}

/** The playbook fleet.yml among `files`, resolved (it must be valid). */
async function resolved(files: Record<string, string>): Promise<Playbook> {
  const folder = await folderWith(files);
  const file = join(folder, 'fleet.yml');
  expect(await validatePlaybookFile(file)).toEqual([]);
  return loadPlaybook(file);
}

// The parts of a resolved playbook an inventory decides; where settings were written differs by design.
function fleetOf(playbook: Playbook) {
  return { hosts: playbook.hosts.map(({ origins: _, ...host }) => host), groups: playbook.groups };
}

describe('hosts_from resolves into the hosts of a hand-written playbook', () => {
  it.each([
    ['an INI inventory', 'from-ini.yml'],
    ['a YAML inventory', 'from-yaml.yml'],
  ])(
    '%s: groups, children, vars precedence, ranges, host:port, defaults under it, playbook entries over it',
    async (_, playbook) => {
      const fromInventory = await loadPlaybook(join(fixtures, playbook));
      const handWritten = await loadPlaybook(join(fixtures, 'hand-written.yml'));
      expect(fleetOf(fromInventory)).toEqual(fleetOf(handWritten));
      // What the comparison rests on, spelled out: a child group's vars over its parent's,
      // host vars over both, the playbook's entry over the inventory, defaults under it.
      const host = (name: string) => fromInventory.hosts.find((h) => h.name === name);
      expect(fromInventory.hosts.map((h) => h.name)).toEqual([
        'cache-solo.example.com',
        'cache01.east.example.com',
        'cache02.east.example.com',
        'cache03.east.example.com',
        'cache-w1',
        'cache-w2',
        'extra1',
      ]);
      expect(host('cache01.east.example.com')).toMatchObject({
        address: 'cache01.east.example.com',
        ssh: { user: 'eu-deploy', port: 2200 },
        memcached: { port: 11511, prefix: '/opt/memcached', args: ['-m', '1024'] },
      });
      expect(host('cache03.east.example.com')).toMatchObject({
        address: '10.1.0.13',
        memcached: { port: 11311 },
      });
      expect(host('cache-w1')).toMatchObject({
        ssh: { user: 'root', port: 2200 },
        memcached: { port: 11411, prefix: '/srv/memcached' },
      });
      expect(host('cache-w2')?.ssh.port).toBe(2222);
      expect(host('cache-solo.example.com')).toMatchObject({ ssh: { user: 'deploy', port: 22 } });
      expect(host('cache-solo.example.com')?.ssh.identityFile).toBe(
        join(process.cwd(), fixtures, 'keys/deploy_ed25519'),
      );
      expect(host('extra1')).toMatchObject({ address: '10.9.0.1', ssh: { user: 'nobody', port: 22 } });
      expect(host('extra1')?.ssh.identityFile).toBeUndefined();
    },
  );

  it('errors about a host’s memcached port point at the inventory line that set it', async () => {
    const playbook = await loadPlaybook(join(fixtures, 'from-ini.yml'));
    const origin = (name: string) => playbook.hosts.find((h) => h.name === name)?.origins?.port;
    expect(origin('cache03.east.example.com')).toBe(`${fixtures}/fleet.ini:13:64`);
    expect(origin('cache-w1')).toBe(`${fixtures}/fleet.ini:20:16`);
    expect(origin('cache01.east.example.com')).toBe(`${fixtures}/fleet.ini:28:16`);
    expect(origin('extra1')).toBeUndefined();
  });

  it('inventory groups, nested ones included, select hosts with --limit', async () => {
    const playbook = await loadPlaybook(join(fixtures, 'from-yaml.yml'));
    const names = (limit: string) => selectHosts(playbook, limit).map((h) => h.name);
    expect(names('west')).toEqual(['cache-w1', 'cache-w2']);
    expect(names('eu')).toEqual([
      'cache01.east.example.com',
      'cache02.east.example.com',
      'cache03.east.example.com',
      'cache-w1',
      'cache-w2',
    ]);
    expect(names('eu:!east')).toEqual(['cache-w1', 'cache-w2']);
    expect(names('canary,west')).toEqual(['cache01.east.example.com', 'cache-w1', 'cache-w2', 'extra1']);
    expect(names('all')).toHaveLength(7);
    // Ansible's implicit groups are not groups of their own here.
    expect(Object.keys(playbook.groups)).toEqual(['eu', 'east', 'west', 'canary']);
  });
});

describe('examples/from-inventory.yml', () => {
  it('upgrades the hosts of examples/inventory.ini, its groups usable with --limit, one host overridden', async () => {
    const playbook = await loadPlaybook('examples/from-inventory.yml');
    expect(playbook.hosts.map((h) => [h.name, h.address, h.ssh.user, h.ssh.port, h.memcached.port])).toEqual([
      ['cache01.east.example.com', 'cache01.east.example.com', 'deploy', 2222, 11211],
      ['cache02.east.example.com', 'cache02.east.example.com', 'deploy', 2222, 11211],
      ['cache03.east.example.com', 'cache03.east.example.com', 'deploy', 2222, 11211],
      ['cache-w1.example.com', '10.2.0.11', 'deploy', 2222, 11211],
      ['cache-w2.example.com', '10.2.0.12', 'deploy', 2222, 11212],
    ]);
    expect(playbook.hosts.map((h) => h.memcached.prefix)).toEqual([
      '/opt/memcached',
      '/opt/memcached',
      '/opt/memcached',
      '/opt/memcached',
      '/srv/memcached',
    ]);
    const names = (limit: string) => selectHosts(playbook, limit).map((h) => h.name);
    expect(names('cache_west')).toEqual(['cache-w1.example.com', 'cache-w2.example.com']);
    expect(names('cache:!cache_west')).toEqual([
      'cache01.east.example.com',
      'cache02.east.example.com',
      'cache03.east.example.com',
    ]);
    expect(names('canary')).toEqual(['cache01.east.example.com']);
  });
});

describe('Ansible variable precedence', () => {
  it('a child group over its parent whatever their names, groups as deep by name, host vars over all', async () => {
    const playbook = await resolved({
      'fleet.yml': playbookFrom('hosts'),
      hosts: `[all:vars]
memcached_port=11000
ansible_user=everyone

[zone:children]
amsterdam

[zone:vars]
memcached_port=11100
ansible_port=2100

[amsterdam]
a1
a2 memcached_port=11999

[amsterdam:vars]
memcached_port=11200

[beta]
a1
b1

[beta:vars]
ansible_port=2300

[alpha]
b1

[alpha:vars]
ansible_port=2400
ansible_user=alpha
`,
    });
    const settings = playbook.hosts.map((h) => [h.name, h.memcached.port, h.ssh.port, h.ssh.user]);
    expect(settings).toEqual([
      // amsterdam (depth 2) over zone (depth 1), although "zone" sorts after it; beta
      // and zone are both depth 1 and "zone" sorts last, so zone's port wins.
      ['a1', 11200, 2100, 'everyone'],
      ['a2', 11999, 2100, 'everyone'],
      // alpha and beta: same depth, "beta" sorts last.
      ['b1', 11000, 2300, 'alpha'],
    ]);
    expect(playbook.groups).toEqual({
      zone: ['a1', 'a2'],
      amsterdam: ['a1', 'a2'],
      beta: ['a1', 'b1'],
      alpha: ['b1'],
    });
  });

  it('a host listed twice keeps the later value; quoted and commented INI values read as Ansible reads them', async () => {
    const playbook = await resolved({
      'fleet.yml': playbookFrom('inventory.ini'),
      'inventory.ini': `# hosts
c1 ansible_user='ops' ansible_port=2201 # first
[east]
c1   ansible_port="2202"   ansible_host=10.0.0.1
[east:vars]
ansible_user = "deploy"
`,
    });
    expect(playbook.hosts).toHaveLength(1);
    expect(playbook.hosts[0]).toMatchObject({ address: '10.0.0.1', ssh: { port: 2202, user: 'ops' } });
  });

  it('ranges: padded numbers, letters, steps, several in one name', async () => {
    const playbook = await resolved({
      'fleet.yml': playbookFrom('inventory.yaml'),
      'inventory.yaml': `all:
  hosts:
    web[08:10]:
    r[a:b]-[1:3:2]:
      memcached_port: 11500
`,
    });
    expect(playbook.hosts.map((h) => [h.name, h.memcached.port])).toEqual([
      ['web08', 11211],
      ['web09', 11211],
      ['web10', 11211],
      ['ra-1', 11500],
      ['ra-3', 11500],
      ['rb-1', 11500],
      ['rb-3', 11500],
    ]);
  });
});

describe('mistakes in the inventory point at inventory:line:col', () => {
  it('INI: a bad port, an unknown child group, a bad section, a stray word, an unclosed quote, a reversed range', async () => {
    expect(
      await problems({
        'fleet.yml': playbookFrom('inventory.ini'),
        'inventory.ini': `[east]
cache1 ansible_port=70000
cache2 ansible_user "deploy"
cache3 ansible_host="10.0.0.3
cache[5:3]

[all:children]
east
esat

[west:host]
w1

[west:vars]
memcached_port=eleven
`,
      }),
    ).toEqual([
      'inventory.ini:2:21: ansible_port: must be a port number from 1 to 65535 (got 70000)',
      'inventory.ini:3:8: expected name=value after the host, as in ansible_host=10.0.0.1 (got "ansible_user")',
      'inventory.ini:3:21: expected name=value after the host, as in ansible_host=10.0.0.1 (got "deploy")',
      'inventory.ini:4:21: this " is never closed; close it on the same line',
      'inventory.ini:5:1: host range [5:3] in "cache[5:3]": 5 is more than 3; write the lower one first',
      'inventory.ini:9:1: children of all: "esat" is not a group of this inventory — did you mean "east"?',
      'inventory.ini:11:7: section [west:host]: "host" is not a section type; use [west] for hosts, [west:vars] for variables or [west:children] for groups',
      'inventory.ini:15:16: memcached_port: must be a whole number (got text "eleven")',
    ]);
  });

  it('YAML: syntax errors, with their position, and nothing else', async () => {
    const found = await problems({
      'fleet.yml': playbookFrom('inventory.yml'),
      'inventory.yml': 'all:\n  hosts:\n    cache1: {ansible_port: 22\n',
    });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^inventory\.yml:\d+:\d+: YAML syntax: /);
  });

  it('YAML: hosts as a list, an unknown group key, a bad user, a template, a cycle of children', async () => {
    expect(
      await problems({
        'fleet.yml': playbookFrom('inventory.yml'),
        'inventory.yml': `all:
  children:
    east:
      hosts: [cache1, cache2]
    west:
      host:
        w1:
      children:
        south:
          children:
            west:
    north:
      hosts:
        n1:
          ansible_user: -oProxyCommand=x
          ansible_host: "{{ inventory_hostname }}.example.com"
`,
      }),
    ).toEqual([
      'inventory.yml:4:14: group east: hosts must be a mapping, e.g. cache1: { ansible_host: 10.0.0.1 } (got a list)',
      'inventory.yml:6:7: group west: unknown key "host" — did you mean "hosts"?',
      'inventory.yml:11:13: children of south: "west" already contains south (west → south → west); a group cannot contain itself — remove one of them',
      'inventory.yml:15:25: ansible_user: must be a user name: letters, digits, "_", "." and "-", not starting with "-" or "." (got text "-oProxyCommand=x")',
      'inventory.yml:16:25: ansible_host: memplay does not evaluate Jinja templates ("{{ inventory_hostname }}.example.com"); write the value itself here, or set address in the playbook',
    ]);
  });

  it('names memplay cannot use, and a YAML inventory named like an INI one', async () => {
    expect(
      await problems({
        'fleet.yml': playbookFrom('inventory.ini'),
        'inventory.ini': '[cache1]\ncache1\n[_private]\n2001:db8::1\n',
      }),
    ).toEqual([
      'inventory.ini:1:2: group "cache1" has the same name as a host; rename one so --limit can tell them apart',
      'inventory.ini:3:2: group "_private" cannot be a memplay group name: use letters, digits, "_", "." and "-", starting with a letter or digit',
      'inventory.ini:4:1: host "2001:db8::1" cannot be a memplay host name: use letters, digits, "_", "." and "-", starting with a letter or digit — give the host such a name and its address as ansible_host, e.g. cache6 ansible_host=2001:db8::6',
    ]);
    expect(
      await problems({
        'fleet.yml': playbookFrom('hosts'),
        hosts: '# the fleet\nall:\n  hosts:\n    cache1:\n',
      }),
    ).toEqual([
      'hosts:2:1: this looks like a YAML inventory, but memplay (as Ansible) reads a file as YAML only when its name ends in .yml or .yaml — rename it, or write it as INI',
    ]);
  });

  it('two names for one memcached are refused at the second', async () => {
    expect(
      await problems({
        'fleet.yml': playbookFrom('inventory.ini'),
        'inventory.ini': 'cache1 ansible_host=10.0.0.1\ncache1-alias ansible_host=10.0.0.1\n',
      }),
    ).toEqual([
      'inventory.ini:2:1: cache1-alias: same address and memcached port as cache1 (10.0.0.1:11211); each memcached may be listed once — fix ansible_host or memcached_port, or remove one of them',
    ]);
  });
});

describe('the playbook around hosts_from', () => {
  it('a path that cannot be read is reported at hosts_from in the playbook', async () => {
    expect(await problems({ 'fleet.yml': playbookFrom('missing.ini') })).toEqual([
      "fleet.yml:7:13: hosts_from: cannot read the inventory missing.ini: no such file; check the path (a relative one starts at the playbook's folder)",
    ]);
    expect(
      await problems({ 'fleet.yml': playbookFrom('group_vars'), 'group_vars/all.yml': 'x: 1\n' }),
    ).toEqual([
      'fleet.yml:7:13: hosts_from: cannot read the inventory group_vars: it is a folder; memplay reads one inventory file, INI or YAML — name the file',
    ]);
    expect(
      await problems({ 'fleet.yml': playbookFrom('empty.ini'), 'empty.ini': '# nothing yet\n' }),
    ).toEqual([
      'fleet.yml:7:13: hosts_from: empty.ini lists no host; add hosts to it, or list them under hosts:',
    ]);
  });

  it('without hosts_from, hosts and every address are still required', async () => {
    expect(await problems({ 'fleet.yml': `${head}hosts:\n  cache1: { ssh: { port: 22 } }\n` })).toEqual([
      'fleet.yml:8:3: hosts.cache1: missing required key "address" (the host name or IP address to connect to)',
    ]);
  });

  it('an entry the inventory does not list needs an address; a playbook group may not reuse an inventory group', async () => {
    expect(
      await problems({
        'fleet.yml': playbookFrom(
          'inventory.ini',
          `hosts:
  cache1: { memcached: { port: 11300 } }
  cach2: { memcached: { port: 11300 } }
  east: { address: 10.0.0.9 }
groups:
  east: [cache1]
  canary: [cache1, cache3]
`,
        ),
        'inventory.ini': '[east]\ncache1\ncache2\n',
      }),
    ).toEqual([
      'fleet.yml:12:3: hosts.cach2: missing required key "address" (the host name or IP address to connect to); cach2 is not a host of inventory.ini',
      'fleet.yml:13:3: hosts: host "east" has the name of a group of inventory.ini (line 1); rename one so --limit can tell them apart',
      'fleet.yml:15:3: groups: group "east" has the same name as a host; rename one so --limit can tell them apart',
      'fleet.yml:15:3: groups: group "east" is also a group of inventory.ini (line 1); rename this one, or list its hosts in the inventory',
      'fleet.yml:16:20: groups.canary[1]: "cache3" is not a host of this playbook or of inventory.ini — did you mean "cache1"?',
    ]);
  });

  it('a key file the inventory names and that cannot be read stops the run at its line (exit 4), before any host', async () => {
    // A url source: the run checks a tarball on the controller before the key files.
    const byUrl = playbookFrom('inventory.ini').replace(
      'path: /srv/memcached-1.6.38.tar.gz',
      'url: https://memcached.org/files/memcached-1.6.38.tar.gz',
    );
    const folder = await folderWith({
      'fleet.yml': byUrl,
      'inventory.ini': '[east]\ncache1 ansible_ssh_private_key_file=keys/none\ncache2\n',
    });
    const error = await loadPlaybookForRun(join(folder, 'fleet.yml'), 'east').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PlaybookError);
    expect(
      (error as PlaybookError).diagnostics.map((d) => formatDiagnostic(d).replace(`${folder}/`, '')),
    ).toEqual([
      `inventory.ini:2:37: ansible_ssh_private_key_file: cannot read ${folder}/keys/none (no such file), needed to log in to cache1; give the path of a private key file on this machine (a relative one starts at the inventory's folder), or remove it to use ssh-agent`,
    ]);
  });
});
