import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  type Ask,
  type InitFlags,
  parseHosts,
  resolveInitSettings,
  writeStarterPlaybook,
} from '../../src/cli/init.js';
import { UsageError } from '../../src/errors.js';
import { validatePlaybookFile } from '../../src/playbook/index.js';
import { schemaReference } from '../../src/playbook/starter.js';

const sha = '074076ab3e889e16e763c6a3e5cadacc6696979dbb8c473bbf871d498b19b1a0';

async function writeFrom(flags: Omit<InitFlags, 'force'>, ask?: Ask) {
  const dir = await mkdtemp(join(tmpdir(), 'memplay-init-'));
  const file = join(dir, 'fleet.yml');
  const settings = await resolveInitSettings({ force: false, ...flags }, dir, ask);
  const problems = await writeStarterPlaybook(file, settings);
  return { dir, file, problems };
}

describe('memplay init writes a starter playbook that validates', () => {
  const combinations: [string, Omit<InitFlags, 'force'>][] = [
    [
      'the fewest flags: hosts, version, sha256 (memcached.org URL)',
      { hosts: 'cache1', version: '1.6.38', sha256: sha },
    ],
    [
      'every flag: names with addresses, user, ports, serial percentage, prefix, backup folder, name',
      {
        hosts: 'cache-a1=10.0.0.11, cache-a2=cache-a2.example.com,cache-b1=fe80::1%eth0',
        version: '1.6.38',
        sha256: sha.toUpperCase(),
        source: 'https://example.com/memcached-1.6.38.tar.gz',
        user: 'deploy',
        port: '11300',
        sshPort: '2222',
        serial: '25%',
        prefix: '/srv/memcached',
        backupDir: '~/memplay-backups',
        name: 'cache tier to 1.6.38',
      },
    ],
    [
      'a serial count and a relative tarball path',
      { hosts: 'a,b,c,d', version: '1.6.9', sha256: sha, source: './memcached-1.6.9.tar.gz', serial: '2' },
    ],
  ];
  for (const [what, flags] of combinations) {
    it(what, async () => {
      const { file, problems } = await writeFrom(flags);
      expect(problems).toEqual([]);
      expect(await validatePlaybookFile(file)).toEqual([]);
      const text = await readFile(file, 'utf8');
      expect(text.split('\n')[0]).toMatch(/^# yaml-language-server: \$schema=\S+playbook\.schema\.json$/);
      // Every section comes with a comment saying what it is for.
      for (const section of ['name', 'target', 'defaults', 'strategy', 'backup', 'hosts']) {
        const lines = text.split('\n');
        const at = lines.findIndex((line) => line.startsWith(`${section}:`));
        expect(at, section).toBeGreaterThan(0);
        expect(lines[at - 1], `comment above ${section}`).toMatch(/^# /);
      }
      const doc = parse(text);
      const hosts = parseHosts(flags.hosts as string);
      expect(Object.keys(doc.hosts)).toEqual(hosts.map((h) => h.name));
      expect(Object.values(doc.hosts).map((h) => (h as { address: string }).address)).toEqual(
        hosts.map((h) => h.address),
      );
      expect(doc.target.version).toBe(flags.version);
      expect(doc.strategy.serial).toBe(
        /^\d+$/.test(flags.serial ?? '1') ? Number(flags.serial ?? 1) : flags.serial,
      );
      if (flags.user) expect(doc.defaults.ssh.user).toBe(flags.user);
      else expect(doc.defaults.ssh.user).toBeUndefined();
      if (flags.port) expect(doc.defaults.memcached.port).toBe(Number(flags.port));
    });
  }

  it('--identity-file, --known-hosts and --pidfile or --unit are written for every host; relative paths made absolute', async () => {
    const flags = { hosts: 'cache1', version: '1.6.38', sha256: sha, knownHosts: 'lab/known_hosts' };
    const pidfile = await writeFrom({
      ...flags,
      identityFile: '~/.ssh/deploy',
      pidfile: '/run/memcached/mc.pid',
    });
    expect(pidfile.problems).toEqual([]);
    const doc = parse(await readFile(pidfile.file, 'utf8'));
    expect(doc.defaults.ssh).toMatchObject({
      identity_file: '~/.ssh/deploy',
      known_hosts: join(process.cwd(), 'lab/known_hosts'),
    });
    expect(doc.defaults.memcached.service).toEqual({ manager: 'pidfile', pidfile: '/run/memcached/mc.pid' });
    const unit = await writeFrom({ ...flags, unit: 'memcached@b1.service' });
    expect(unit.problems).toEqual([]);
    expect(parse(await readFile(unit.file, 'utf8')).defaults.memcached.service).toEqual({
      manager: 'systemd',
      unit: 'memcached@b1.service',
    });
    await expect(writeFrom({ ...flags, pidfile: '/run/a.pid', unit: 'mc.service' })).rejects.toThrow(
      '--pidfile and --unit name two ways to stop memcached: give one',
    );
  });

  it('a local tarball: its sha256 is computed, not asked for', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memplay-init-'));
    await writeFile(join(dir, 'memcached-1.6.38.tar.gz'), 'not really a tarball');
    const settings = await resolveInitSettings(
      { force: false, hosts: 'h1', version: '1.6.38', source: 'memcached-1.6.38.tar.gz' },
      dir,
      undefined,
    );
    // sha256sum of the 20 bytes above.
    const { createHash } = await import('node:crypto');
    expect(settings.sha256).toBe(createHash('sha256').update('not really a tarball').digest('hex'));
  });

  it('on a terminal, what the flags leave out is asked, defaults offered', async () => {
    const questions: string[] = [];
    const answers: Record<string, string> = {
      Hosts: 'web1=10.1.0.1,web2=10.1.0.2',
      'memcached version': '1.6.38',
      sha256: sha,
      'memcached port': '',
      'SSH user': 'ops',
    };
    const ask: Ask = async (question, fallback) => {
      questions.push(question);
      const key = Object.keys(answers).find((k) => question.startsWith(k));
      return (key ? answers[key] : '') || fallback || '';
    };
    const { file, problems } = await writeFrom({ serial: '1' }, ask);
    expect(problems).toEqual([]);
    expect(questions.map((q) => q.split(' (')[0])).toEqual([
      'Hosts',
      'memcached version to upgrade to',
      'Source tarball',
      'sha256 of the tarball',
      'SSH user',
      'memcached port',
    ]);
    const doc = parse(await readFile(file, 'utf8'));
    expect(doc.defaults.ssh.user).toBe('ops');
    expect(doc.defaults.memcached.port).toBe(11211);
    expect(doc.target.source.url).toBe('https://memcached.org/files/memcached-1.6.38.tar.gz');
    expect(Object.keys(doc.hosts)).toEqual(['web1', 'web2']);
  });

  it('without a terminal, missing flags are named in one refusal', async () => {
    await expect(resolveInitSettings({ force: false, hosts: 'a' }, tmpdir(), undefined)).rejects.toThrow(
      new UsageError(
        'memplay init needs --version, --sha256: give them as flags, or run it on a terminal to be asked',
      ),
    );
  });

  it('values the schema refuses leave no file and say why', async () => {
    const { file, problems, dir } = await writeFrom({
      hosts: 'ok1,bad;name',
      version: '1.6.38',
      sha256: 'abc',
    });
    expect(problems.join('\n')).toContain('target.source.sha256: must be 64 hexadecimal digits');
    expect(problems.join('\n')).toContain('"bad;name" is not a valid host name');
    const { readdir } = await import('node:fs/promises');
    expect(await readdir(dir)).toEqual([]);
    expect(file).toMatch(/fleet\.yml$/);
  });

  it('the schema line is relative beside the package and absolute elsewhere', () => {
    expect(schemaReference('/opt/memplay/examples', '/opt/memplay/schemas/playbook.schema.json')).toBe(
      '../schemas/playbook.schema.json',
    );
    expect(schemaReference('/home/me/fleets', '/opt/memplay/schemas/playbook.schema.json')).toBe(
      '/opt/memplay/schemas/playbook.schema.json',
    );
  });
});
