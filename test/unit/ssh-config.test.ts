import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parsePlaybookText } from '../../src/playbook/load.js';
import { type PlaybookDocument, resolvePlaybook } from '../../src/playbook/resolve.js';
import { loadSshConfigs } from '../../src/playbook/ssh-config-files.js';
import { loadSshConfig } from '../../src/transport/ssh-config.js';
import { diagnose, head } from '../support/playbook-helpers.js';

// A fake home with ~/.ssh/config, an included conf.d/ and two keys, one of which exists.
let home: string;
let config: string;

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), 'memplay-sshcfg-'));
  await mkdir(join(home, '.ssh', 'conf.d'), { recursive: true });
  config = join(home, '.ssh', 'config');
  await writeFile(join(home, '.ssh', 'id_cache'), 'key');
  await writeFile(join(home, '.ssh', 'id_bastion'), 'key');
  await writeFile(
    config,
    `# the operator's config
Include conf.d/*.conf

Host cache-* !cache-legacy
  HostName 10.0.%h.7
  User deploy
  Port 2222
  IdentityFile ~/.ssh/id_missing
  IdentityFile ~/.ssh/id_cache
  ProxyJump bastion

Host cache-legacy
  HostName legacy.example.com
  HostKeyAlias legacy-alias

Host *
  User fallback
  ConnectTimeout 7
`,
  );
  await writeFile(
    join(home, '.ssh', 'conf.d', '10-bastion.conf'),
    `Host bastion
    HostName 192.0.2.10
    User ops
    Port 2200
    IdentityFile %d/.ssh/id_bastion
`,
  );
  // Not matched by *.conf: Include takes only what the glob names.
  await writeFile(join(home, '.ssh', 'conf.d', 'notes.txt'), 'Host cache-*\n  Port 1\n');
});

afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

async function resolveWithConfig(hosts: string, file = '/fleet/fleet.yml') {
  const text = `${head}${hosts}`;
  expect(diagnose(text, file)).toEqual([]);
  const source = parsePlaybookText(file, text).source;
  if (!source) throw new Error('no source');
  const environment = { homeDir: home, userName: 'tester', sshConfigFile: config };
  const document = source.data() as PlaybookDocument;
  const loaded = await loadSshConfigs(source, document, file, environment);
  expect(loaded.problems).toEqual([]);
  return resolvePlaybook(document, file, { ...environment, sshConfigs: loaded.configs });
}

describe('~/.ssh/config: a playbook can name a host by its alias', () => {
  it('a Host pattern gives HostName (with %h), User, Port, the first IdentityFile that exists and ProxyJump; the bastion comes from an Include', async () => {
    const playbook = await resolveWithConfig('hosts:\n  a1:\n    address: cache-a1\n');
    const host = playbook.hosts[0];
    expect(host?.address).toBe('10.0.cache-a1.7');
    expect(host?.ssh).toMatchObject({
      user: 'deploy',
      port: 2222,
      identityFile: join(home, '.ssh', 'id_cache'),
      knownHosts: join(home, '.ssh', 'known_hosts'),
      connectTimeoutMs: 7000,
      jumps: [
        {
          label: 'bastion',
          address: '192.0.2.10',
          port: 2200,
          user: 'ops',
          identityFile: join(home, '.ssh', 'id_bastion'),
        },
      ],
    });
    expect(host?.ssh.configNote).toBe(
      `cache-a1 per ssh config: HostName 10.0.%h.7 (${config}:5), User deploy (${config}:6), ` +
        `Port 2222 (${config}:7), ProxyJump bastion (${config}:10)`,
    );
  });

  it('values the playbook sets win over the config, key by key, from defaults or the host', async () => {
    const playbook = await resolveWithConfig(`defaults:
  ssh: { user: admin }
hosts:
  a1:
    address: cache-a1
    ssh: { port: 22, identity_file: ./keys/id, connect_timeout: 3, jump: none }
`);
    const host = playbook.hosts[0];
    expect(host?.address).toBe('10.0.cache-a1.7');
    expect(host?.ssh).toMatchObject({
      user: 'admin',
      port: 22,
      identityFile: '/fleet/keys/id',
      connectTimeoutMs: 3000,
    });
    expect(host?.ssh.jumps).toBeUndefined();
  });

  it('ssh.jump names a chain; each hop is looked up in the config, and a hop without a key uses the host key', async () => {
    const playbook = await resolveWithConfig(`hosts:
  a1:
    address: 10.1.1.1
    ssh: { identity_file: /keys/id, jump: "bastion,root@hop2:2022" }
`);
    expect(playbook.hosts[0]?.ssh.jumps?.[1]?.configNote).toBe(
      `hop2 has no HostName in ssh config ${config}, so it was used as the address`,
    );
    expect(playbook.hosts[0]?.ssh.jumps).toMatchObject([
      {
        label: 'bastion',
        address: '192.0.2.10',
        port: 2200,
        user: 'ops',
        identityFile: join(home, '.ssh', 'id_bastion'),
      },
      { label: 'root@hop2:2022', address: 'hop2', port: 2022, user: 'root', identityFile: '/keys/id' },
    ]);
  });

  it('a negated pattern excludes a host; HostKeyAlias is kept for the known_hosts lookup; no match leaves the address as is', async () => {
    const playbook = await resolveWithConfig(`hosts:
  legacy:
    address: cache-legacy
  plain:
    address: 10.9.9.9
`);
    const [legacy, plain] = playbook.hosts;
    expect(legacy?.address).toBe('legacy.example.com');
    expect(legacy?.ssh).toMatchObject({ user: 'fallback', port: 22, hostKeyAlias: 'legacy-alias' });
    expect(legacy?.ssh.jumps).toBeUndefined();
    expect(plain?.address).toBe('10.9.9.9');
    expect(plain?.ssh.configNote).toBe(
      `10.9.9.9 has no HostName in ssh config ${config}, so it was used as the address`,
    );
  });

  it('config_file: none reads no config; a local host is never looked up', async () => {
    const playbook = await resolveWithConfig(`hosts:
  a1:
    address: cache-a1
    ssh: { config_file: none }
  here:
    address: cache-a2
    connection: local
`);
    const [a1, here] = playbook.hosts;
    expect(a1?.address).toBe('cache-a1');
    expect(a1?.ssh).toEqual({
      user: 'tester',
      port: 22,
      knownHosts: join(home, '.ssh', 'known_hosts'),
      otherKnownHosts: [
        join(home, '.ssh', 'known_hosts2'),
        '/etc/ssh/ssh_known_hosts',
        '/etc/ssh/ssh_known_hosts2',
      ],
      connectTimeoutMs: 10_000,
    });
    expect(here?.address).toBe('cache-a2');
  });

  it('an ssh.config_file that does not exist is a playbook error at its line, before any host is contacted', async () => {
    const file = '/fleet/fleet.yml';
    const text = `${head}hosts:\n  a1:\n    address: cache-a1\n    ssh:\n      config_file: ./nope/config\n`;
    const source = parsePlaybookText(file, text).source;
    if (!source) throw new Error('no source');
    const loaded = await loadSshConfigs(source, source.data() as PlaybookDocument, file, {
      homeDir: home,
      userName: 'tester',
    });
    expect(loaded.problems).toEqual([
      {
        file,
        line: 11,
        col: 20,
        message:
          'hosts.a1.ssh.config_file: /fleet/nope/config does not exist, needed to resolve a1; give the path ' +
          'of an OpenSSH client config, or none to read no config',
      },
    ]);
  });

  it('an Include that includes itself is refused with the file and line instead of looping', async () => {
    const looping = join(home, 'loop.conf');
    await writeFile(looping, `Host x\n  Port 1\nInclude ${looping}\n`);
    await expect(loadSshConfig(looping, home)).rejects.toThrow(
      `${looping}:3: Include nested more than 16 deep`,
    );
  });

  it('ssh.jump is checked by the schema: a space or a leading dash is refused at its line', () => {
    const diagnostics = diagnose(
      `${head}hosts:\n  a1:\n    address: h\n    ssh: { jump: "-oProxyCommand=x" }\n`,
    );
    expect(diagnostics).toHaveLength(1);
    expect(diagnostics[0]).toMatchObject({ line: 10, message: expect.stringContaining('hosts.a1.ssh.jump') });
  });
});

// Issue 17 item 10: values from the config are held to the playbook's bounds, with the
// config's file:line, and only where the host would use them.
describe('ssh config values memplay refuses', () => {
  async function problemsOf(configText: string, sshSettings = '{}') {
    const dir = mkdtempSync(join(tmpdir(), 'memplay-ssh-config-bounds-'));
    try {
      const path = join(dir, 'config');
      writeFileSync(path, configText);
      const loaded = await loadSshConfig(path, dir);
      const found: string[] = [];
      const document = parse(
        `${head}defaults: { ssh: ${sshSettings} }\nhosts:\n  a1:\n    address: cache-a1\n`,
      ) as PlaybookDocument;
      resolvePlaybook(document, '/fleet/fleet.yml', {
        homeDir: dir,
        userName: 'tester',
        sshConfigFile: path,
        sshConfigs: new Map([[path, loaded]]),
        onSshConfigProblem: (host, message) => found.push(`${host}: ${message.replace(dir, '<dir>')}`),
      });
      return found;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('Port 0, Port 70000 and a ConnectTimeout that would round to 0 ms are refused at their line', async () => {
    expect(await problemsOf('Host cache-*\n  Port 0\n')).toEqual([
      'a1: <dir>/config:2: Port 0 is not a port number from 1 to 65535',
    ]);
    expect(await problemsOf('Host *\n  Port 70000\n')).toEqual([
      'a1: <dir>/config:2: Port 70000 is not a port number from 1 to 65535',
    ]);
    expect(await problemsOf('\nHost *\n  ConnectTimeout 0.0001\n')).toEqual([
      'a1: <dir>/config:3: ConnectTimeout 0.0001 is not a number of seconds from 0.1 to 3600',
    ]);
  });

  it("a ProxyJump port out of range is refused, as is a jump host's own Port", async () => {
    expect(await problemsOf('Host cache-*\n  ProxyJump bastion:99999\n')).toEqual([
      'a1: <dir>/config:2: ProxyJump bastion:99999: port 99999 is not a port number from 1 to 65535',
    ]);
    expect(await problemsOf('Host cache-*\n  ProxyJump bastion\nHost bastion\n  Port 0\n')).toEqual([
      'a1: <dir>/config:4: Port 0 is not a port number from 1 to 65535',
    ]);
  });

  it("a bad value the playbook's own setting replaces is not the host's problem", async () => {
    expect(
      await problemsOf('Host *\n  Port 0\n  ConnectTimeout 0\n', '{ port: 22, connect_timeout: 5 }'),
    ).toEqual([]);
  });
});
