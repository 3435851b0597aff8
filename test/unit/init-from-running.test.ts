import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { resolveRunningSettings, writeValidPlaybook } from '../../src/cli/init.js';
import { parseHostSpecs } from '../../src/cli/init-from-running.js';
import { UsageError } from '../../src/errors.js';
import {
  type MemcachedProcess,
  parseMemcachedProcesses,
  type ServiceCheck,
  unitOfCgroup,
} from '../../src/facts/memcached-processes.js';
import { runningInstanceProblem } from '../../src/facts/running-instance.js';
import { predictSettings } from '../../src/memcached/start-args.js';
import {
  chooseProcess,
  describeRunning,
  fleetLayout,
  memplayPrefix,
  type NamedBy,
  playbookArgs,
  type RunningHost,
  serviceCandidates,
} from '../../src/playbook/from-running.js';
import { type PlaybookDocument, resolvePlaybook } from '../../src/playbook/resolve.js';
import { commentLines, renderRunningPlaybook } from '../../src/playbook/running-starter.js';
import type { HostConfig } from '../../src/playbook/types.js';
import { unitCommandLine } from '../../src/service/drop-in.js';
import { memcachedStartArgs } from '../../src/service/service.js';

// `memplay init --from-running`: from what the process probe reads on a host to the
// playbook that describes it. The probe's own shell runs on the lab (test/e2e/init-from-running.test.ts).

const sha = '074076ab3e889e16e763c6a3e5cadacc6696979dbb8c473bbf871d498b19b1a0';

function memcachedProcess(
  commandLine: readonly string[],
  overrides: Partial<Omit<MemcachedProcess, 'commandLine'>> = {},
): MemcachedProcess {
  return {
    pid: 4242,
    uid: 1001,
    user: 'deploy',
    binary: '/opt/memcached/1.6.18/bin/memcached',
    version: '1.6.18',
    cgroup: ['0::/user.slice/user-1001.slice/session-4.scope'],
    commandLine,
    ...overrides,
  };
}

const memplayStarted = (port: number, pidfile: string, ...args: string[]) => [
  '/opt/memcached/current/bin/memcached',
  '-d',
  '-P',
  pidfile,
  '-p',
  String(port),
  ...args,
];

const pidfileHolds = (pid: number | null): ServiceCheck => ({ pidfilePid: pid, unitMainPid: null });

function described(
  process: MemcachedProcess,
  options: { named?: NamedBy; check?: ServiceCheck; loginUser?: string; host?: string } = {},
) {
  return describeRunning(options.host ?? 'cache1', process, {
    named: options.named,
    check: options.check ?? pidfileHolds(process.pid),
    loginUser: options.loginUser ?? 'deploy',
  });
}

describe('the process probe output', () => {
  it('is read into processes: owner, exe, version, cgroup and every argument (one with a space stays one)', () => {
    const output = [
      'login\t1001\tdeploy',
      'process\t4242\t1001\tdeploy',
      'exe\t/opt/memcached/1.6.18/bin/memcached',
      'version\tmemcached 1.6.18',
      'cgroup\t0::/user.slice/user-1001.slice/session-4.scope',
      'arg\t/opt/memcached/current/bin/memcached',
      'arg\t-p',
      'arg\t11211',
      'arg\t-o',
      'arg\tslab_reassign, lru_crawler',
      'process\t77\t113\tmemcache',
      'exe\t',
      'cgroup\t0::/system.slice/memcached.service',
      'arg\t/usr/bin/memcached',
      'arg\t-m',
      'arg\t64',
      '',
    ].join('\n');
    expect(parseMemcachedProcesses(output)).toEqual({
      loginUid: 1001,
      loginUser: 'deploy',
      processes: [
        {
          pid: 4242,
          uid: 1001,
          user: 'deploy',
          binary: '/opt/memcached/1.6.18/bin/memcached',
          version: '1.6.18',
          cgroup: ['0::/user.slice/user-1001.slice/session-4.scope'],
          commandLine: [
            '/opt/memcached/current/bin/memcached',
            '-p',
            '11211',
            '-o',
            'slab_reassign, lru_crawler',
          ],
        },
        {
          pid: 77,
          uid: 113,
          user: 'memcache',
          binary: null,
          version: null,
          cgroup: ['0::/system.slice/memcached.service'],
          commandLine: ['/usr/bin/memcached', '-m', '64'],
        },
      ],
    });
  });

  it('a pidfile or unit that names nothing is a null pid, not a process', () => {
    expect(parseMemcachedProcesses('login\t0\troot\nnamed\t\n')).toEqual({
      loginUid: 0,
      loginUser: 'root',
      namedPid: null,
      processes: [],
    });
    expect(parseMemcachedProcesses('login\t0\troot\nnamed\t0\n').namedPid).toBeNull();
  });

  it('the unit comes from the cgroup: a system service, never a session, a user manager or the root', () => {
    expect(unitOfCgroup(['0::/system.slice/memcached.service'])).toBe('memcached.service');
    expect(unitOfCgroup(['0::/system.slice/system-memcached.slice/memcached@b1.service'])).toBe(
      'memcached@b1.service',
    );
    // cgroup v1: the systemd hierarchy, whatever the other controllers say.
    expect(
      unitOfCgroup([
        '4:memory:/system.slice/other.service',
        '1:name=systemd:/system.slice/memcached.service',
      ]),
    ).toBe('memcached.service');
    expect(unitOfCgroup(['0::/user.slice/user-1000.slice/session-3.scope'])).toBeNull();
    expect(
      unitOfCgroup(['0::/user.slice/user-1000.slice/user@1000.service/app.slice/mc.service']),
    ).toBeNull();
    expect(unitOfCgroup(['9:name=systemd:/', '0::/'])).toBeNull();
    expect(unitOfCgroup([])).toBeNull();
  });
});

describe('the arguments memplay writes', () => {
  it('leave out what memplay adds when it starts memcached with a pidfile: -d, -P and -p, in every spelling', () => {
    const args = [
      '-d',
      '-P',
      '/run/mc.pid',
      '-p',
      '11211',
      '-l',
      '10.0.0.5',
      '-m',
      '4096',
      '--daemon',
      '--port=11212',
      '-P/run/other.pid',
      '-p11213',
      '--pidfile',
      '/run/third.pid',
      '-c',
      '2048',
      '-o',
      'modern',
    ];
    expect(playbookArgs(args, 'pidfile')).toEqual({
      args: ['-l', '10.0.0.5', '-m', '4096', '-c', '2048', '-o', 'modern'],
      pidfile: '/run/third.pid',
    });
  });

  it('under a unit keep -P (memplay adds only -p there) and still drop -d: the drop-in runs memcached in the foreground', () => {
    expect(
      playbookArgs(['-d', '-P', '/run/mc.pid', '-p', '11211', '-m', '64', '-u', 'memcache'], 'systemd'),
    ).toEqual({
      args: ['-P', '/run/mc.pid', '-m', '64', '-u', 'memcache'],
      pidfile: '/run/mc.pid',
    });
  });

  it('the prefix is where memplay installs builds: <prefix>/<version>/bin or <prefix>/current/bin, nothing else', () => {
    expect(memplayPrefix(['/opt/memcached/1.6.18/bin/memcached'], '1.6.18')).toBe('/opt/memcached');
    expect(memplayPrefix([null, '/srv/mc/current/bin/memcached'], '1.6.18')).toBe('/srv/mc');
    expect(memplayPrefix(['/usr/bin/memcached', '/usr/bin/memcached'], '1.6.18')).toBeNull();
    // A folder named like another version is not a build of this one.
    expect(memplayPrefix(['/opt/memcached/1.6.9/bin/memcached'], '1.6.18')).toBeNull();
    expect(memplayPrefix(['/usr/local/bin/memcached'], null)).toBeNull();
    expect(memplayPrefix(['/opt/../x/current/bin/memcached'], '1.6.18')).toBeNull();
  });
});

describe('choosing the memcached to describe', () => {
  const mine = memcachedProcess(memplayStarted(11211, '/run/a.pid'), { pid: 10 });
  const second = memcachedProcess(memplayStarted(11212, '/run/b.pid'), { pid: 11 });
  const theirs = memcachedProcess(['/usr/bin/memcached', '-m', '64'], {
    pid: 77,
    uid: 113,
    user: 'memcache',
    binary: null,
    cgroup: ['0::/system.slice/memcached.service'],
  });
  const probe = (processes: MemcachedProcess[], login = { loginUid: 1001, loginUser: 'deploy' }) => ({
    ...login,
    processes,
  });

  it("takes the login user's one memcached, leaving other users' alone", () => {
    expect(chooseProcess('cache1', probe([mine, theirs]), {})).toBe(mine);
  });

  it('several: refused, each named with its port, and --port chooses', () => {
    expect(() => chooseProcess('cache1', probe([mine, second]), {})).toThrow(
      new UsageError(
        'cache1: 2 memcached processes run as deploy: pid 10 (deploy, port 11211): /opt/memcached/current/bin/memcached -d -P /run/a.pid -p 11211; ' +
          'pid 11 (deploy, port 11212): /opt/memcached/current/bin/memcached -d -P /run/b.pid -p 11212 — choose one with --port, or name it with --pidfile or --unit',
      ),
    );
    expect(chooseProcess('cache1', probe([mine, second]), { port: 11212 })).toBe(second);
  });

  it("none of the login user's: refused, naming the others found and how to reach them", () => {
    expect(() => chooseProcess('cache1', probe([theirs]), {})).toThrow(
      new UsageError(
        'cache1: no memcached runs as deploy; found pid 77 (memcache, port 11211, in memcached.service): /usr/bin/memcached -m 64 (another user) — ' +
          'choose with --port, log in as its user, or name it with --pidfile or --unit',
      ),
    );
    expect(() => chooseProcess('cache1', probe([]), {})).toThrow(
      'cache1: no memcached runs as deploy — start it, or check the host and its ssh user',
    );
  });

  it("root may describe any user's memcached", () => {
    expect(chooseProcess('cache1', probe([theirs], { loginUid: 0, loginUser: 'root' }), {})).toBe(theirs);
  });

  it('a pidfile or unit names its process; one that names nothing, or not memcached, is refused', () => {
    const named = { pidfile: '/run/a.pid' };
    expect(chooseProcess('cache1', { ...probe([mine]), namedPid: 10 }, { named })).toBe(mine);
    expect(() => chooseProcess('cache1', { ...probe([]), namedPid: null }, { named })).toThrow(
      'cache1: the pidfile /run/a.pid holds no pid (it is missing, unreadable or empty)',
    );
    expect(() =>
      chooseProcess('cache1', { ...probe([]), namedPid: 555 }, { named: { unit: 'mc.service' } }),
    ).toThrow('cache1: the unit mc.service names pid 555, which is not running');
    const shell = memcachedProcess(['/bin/sh', '-c', 'sleep 9'], { pid: 12, binary: '/bin/dash' });
    expect(() => chooseProcess('cache1', { ...probe([shell]), namedPid: 12 }, { named })).toThrow(
      /names pid 12 .*which is not memcached/,
    );
  });
});

describe('describing the running memcached', () => {
  it('memplay-started with a pidfile: port, prefix, args and pidfile as it runs, and no warning', () => {
    const found = described(
      memcachedProcess(memplayStarted(11301, '/home/u/mc.pid', '-l', '127.0.0.1', '-m', '256')),
    );
    expect(found).toMatchObject({
      port: 11301,
      prefix: '/opt/memcached',
      args: ['-l', '127.0.0.1', '-m', '256'],
      service: { manager: 'pidfile', pidfile: '/home/u/mc.pid' },
      become: false,
      auth: false,
      warnings: [],
    });
  });

  it('a pidfile that names another pid is written, with a warning: apply finds memcached through it', () => {
    const found = described(memcachedProcess(memplayStarted(11301, '/home/u/mc.pid')), {
      check: pidfileHolds(999),
    });
    expect(found.service).toEqual({ manager: 'pidfile', pidfile: '/home/u/mc.pid' });
    expect(found.warnings).toEqual([
      expect.stringContaining(
        'cache1: pid 4242 was started with -P /home/u/mc.pid, but that file holds pid 999',
      ),
    ]);
  });

  it('a unit whose MainPID it is: systemd, -P kept, -d dropped, and become for a login other than root', () => {
    const process = memcachedProcess(
      ['/opt/memcached/current/bin/memcached', '-d', '-P', '/run/mc.pid', '-p', '11211', '-m', '64'],
      { cgroup: ['0::/system.slice/memcached.service'] },
    );
    expect(serviceCandidates(process, undefined)).toEqual({
      unit: 'memcached.service',
      pidfile: '/run/mc.pid',
    });
    const found = described(process, { check: { pidfilePid: 4242, unitMainPid: 4242 } });
    expect(found).toMatchObject({
      service: { manager: 'systemd', unit: 'memcached.service' },
      args: ['-P', '/run/mc.pid', '-m', '64'],
      become: true,
      warnings: [],
    });
    expect(
      described(process, { check: { pidfilePid: 4242, unitMainPid: 4242 }, loginUser: 'root' }).become,
    ).toBe(false);
  });

  it('a unit the cgroup names but systemctl does not confirm (an ssh session without pam_systemd): the pidfile', () => {
    const process = memcachedProcess(memplayStarted(11301, '/home/u/mc.pid'), {
      cgroup: ['0::/system.slice/ssh.service'],
    });
    expect(described(process, { check: { pidfilePid: 4242, unitMainPid: 811 } }).service).toEqual({
      manager: 'pidfile',
      pidfile: '/home/u/mc.pid',
    });
  });

  it('--unit wins over what the process says', () => {
    const process = memcachedProcess(['/opt/memcached/current/bin/memcached', '-p', '11400', '-m', '64']);
    expect(described(process, { named: { unit: 'mc@b1.service' } }).service).toEqual({
      manager: 'systemd',
      unit: 'mc@b1.service',
    });
  });

  it('neither a pidfile nor a unit: service left at its default, with a warning saying how memplay stops memcached', () => {
    const found = described(memcachedProcess(['/opt/memcached/current/bin/memcached', '-m', '64']), {
      check: pidfileHolds(null),
    });
    expect(found.service).toBeNull();
    expect(found.port).toBe(11211);
    expect(found.warnings).toEqual([
      expect.stringMatching(/runs with no pidfile \(-P\) and in no systemd unit/),
    ]);
  });

  it('a package install: settings written, prefix not, and a warning that memplay cannot upgrade it in place yet', () => {
    const found = described(
      memcachedProcess(
        ['/usr/bin/memcached', '-m', '64', '-p', '11211', '-u', 'memcache', '-l', '127.0.0.1'],
        {
          binary: '/usr/bin/memcached',
          cgroup: ['0::/system.slice/memcached.service'],
        },
      ),
      { check: { pidfilePid: null, unitMainPid: 4242 } },
    );
    expect(found).toMatchObject({
      prefix: null,
      service: { manager: 'systemd', unit: 'memcached.service' },
      args: ['-m', '64', '-u', 'memcache', '-l', '127.0.0.1'],
    });
    expect(found.warnings).toEqual([
      'cache1: /usr/bin/memcached (1.6.18) is not a build under a memplay prefix (<prefix>/<version>/bin/memcached or ' +
        '<prefix>/current/bin/memcached), such as a package install: memplay cannot yet upgrade a package install in ' +
        'place — memcached.prefix is left at its default, /opt/memcached',
    ]);
  });

  it('-Y: the credentials are named by variables, and the warning says which to set', () => {
    const found = described(memcachedProcess(memplayStarted(11211, '/run/mc.pid', '-Y', '/etc/mc-auth')));
    expect(found.auth).toBe(true);
    expect(found.args).toEqual(['-Y', '/etc/mc-auth']);
    expect(found.warnings).toEqual([expect.stringContaining('set MEMCACHED_USER and MEMCACHED_PASSWORD')]);
  });
});

describe('host specs on the command line', () => {
  it('[name=][user@]address[:port]: several on one address are named by their ssh port', () => {
    expect(
      parseHostSpecs(['mplab1@127.0.0.1:2201', 'mplab2@127.0.0.1:2202,mplab3@127.0.0.1:2203', 'cache-a1']),
    ).toEqual([
      { name: '127.0.0.1-2201', address: '127.0.0.1', user: 'mplab1', port: 2201 },
      { name: '127.0.0.1-2202', address: '127.0.0.1', user: 'mplab2', port: 2202 },
      { name: '127.0.0.1-2203', address: '127.0.0.1', user: 'mplab3', port: 2203 },
      { name: 'cache-a1', address: 'cache-a1' },
    ]);
  });

  it('names given, --user and --ssh-port for what a spec leaves out, IPv6 in brackets', () => {
    expect(
      parseHostSpecs(['web1=10.0.0.1', 'web2=ops@[fe80::1%eth0]:2222'], { user: 'deploy', port: 22 }),
    ).toEqual([
      { name: 'web1', address: '10.0.0.1', user: 'deploy', port: 22 },
      { name: 'web2', address: 'fe80::1%eth0', user: 'ops', port: 2222 },
    ]);
    expect(parseHostSpecs(['a@h', 'b@h'])).toEqual([
      { name: 'a-h-22', address: 'h', user: 'a' },
      { name: 'b-h-22', address: 'h', user: 'b' },
    ]);
  });

  it('refused: no host, a host twice, a port out of range', () => {
    expect(() => parseHostSpecs([' , '])).toThrow(/--from-running needs at least one host/);
    expect(() => parseHostSpecs(['10.0.0.1', '10.0.0.1'])).toThrow(/names 10\.0\.0\.1-22 twice/);
    expect(() => parseHostSpecs(['h:70000'])).toThrow(
      '--from-running h:70000: the ssh port must be from 1 to 65535',
    );
  });

  it('--hosts, --prefix and --pidfile with --unit do not go with --from-running', async () => {
    const flags = { force: false, fromRunning: ['h'], version: '1.6.38', sha256: sha };
    await expect(resolveRunningSettings({ ...flags, hosts: 'a' }, tmpdir(), undefined)).rejects.toThrow(
      UsageError,
    );
    await expect(resolveRunningSettings({ ...flags, prefix: '/x' }, tmpdir(), undefined)).rejects.toThrow(
      /--prefix does not go with --from-running/,
    );
    await expect(
      resolveRunningSettings({ ...flags, pidfile: '/run/a.pid', unit: 'mc.service' }, tmpdir(), undefined),
    ).rejects.toThrow('--pidfile and --unit name two ways to stop memcached: give one');
    await expect(
      resolveRunningSettings({ ...flags, pidfile: 'mc.pid' }, tmpdir(), undefined),
    ).rejects.toThrow('--pidfile must be an absolute path on the hosts, got "mc.pid"');
    await expect(
      resolveRunningSettings({ force: false, fromRunning: ['h'] }, tmpdir(), undefined),
    ).rejects.toThrow('memplay init needs --version, --sha256');
  });
});

/** The written playbook, validated as `memplay init` does, then resolved as `apply` would. */
async function writeAndResolve(hosts: RunningHost[]) {
  const dir = await mkdtemp(join(tmpdir(), 'memplay-from-running-'));
  const file = join(dir, 'fleet.yml');
  const text = renderRunningPlaybook(
    fleetLayout(hosts),
    {
      name: 'upgrade to 1.6.38',
      version: '1.6.38',
      source: { kind: 'url', url: 'https://memcached.org/files/memcached-1.6.38.tar.gz' },
      sha256: sha,
      serial: 1,
      backupDir: './backups',
      identityFile: '/home/me/.ssh/lab',
      knownHosts: '/home/me/.ssh/lab_known_hosts',
    },
    '/opt/memplay/schemas/playbook.schema.json',
    '2026-12-06',
  );
  const problems = await writeValidPlaybook(file, text);
  const document =
    problems.length === 0 ? (parse(await readFile(file, 'utf8')) as PlaybookDocument) : undefined;
  const playbook = document && resolvePlaybook(document, file, { homeDir: '/home/me', userName: 'me' });
  return { dir, file, text, problems, document, playbook };
}

function labLike(index: number, args: readonly string[] = ['-l', '127.0.0.1', '-m', '256']): RunningHost {
  const home = `/home/mplab${index}`;
  const process = memcachedProcess(
    [
      `${home}/memcached/current/bin/memcached`,
      '-d',
      '-P',
      `${home}/memcached.pid`,
      '-p',
      String(11300 + index),
      ...args,
    ],
    { pid: 100 + index, binary: `${home}/memcached/1.6.18/bin/memcached`, user: `mplab${index}` },
  );
  return {
    name: `127.0.0.1-${2200 + index}`,
    address: '127.0.0.1',
    ssh: { user: `mplab${index}`, port: 2200 + index },
    found: described(process),
  };
}

describe('the written playbook', () => {
  it('three hosts on one address: shared arguments in defaults, ports, prefixes and pidfiles per host; it validates', async () => {
    const hosts = [labLike(1), labLike(2), labLike(3)];
    const { problems, document, text } = await writeAndResolve(hosts);
    expect(problems).toEqual([]);
    expect(document?.defaults).toEqual({
      ssh: { identity_file: '/home/me/.ssh/lab', known_hosts: '/home/me/.ssh/lab_known_hosts' },
      memcached: { args: ['-l', '127.0.0.1', '-m', '256'] },
    });
    expect(document?.hosts?.['127.0.0.1-2202']).toEqual({
      address: '127.0.0.1',
      ssh: { user: 'mplab2', port: 2202 },
      memcached: {
        port: 11302,
        prefix: '/home/mplab2/memcached',
        service: { manager: 'pidfile', pidfile: '/home/mplab2/memcached.pid' },
      },
    });
    expect(text).toContain(
      '    # found pid 102: memcached 1.6.18 at /home/mplab2/memcached/1.6.18/bin/memcached\n' +
        '    # started as: -d -P /home/mplab2/memcached.pid -p 11302 -l 127.0.0.1 -m 256\n',
    );
  });

  it('what differs stays with its host, what all share goes to defaults', async () => {
    const hosts = [
      labLike(1),
      labLike(2, ['-l', '127.0.0.1', '-m', '128', '-c', '2048', '-I', '2m']),
      labLike(3),
    ];
    const { problems, document } = await writeAndResolve(hosts);
    expect(problems).toEqual([]);
    expect(document?.defaults?.memcached).toBeUndefined();
    expect(document?.hosts?.['127.0.0.1-2201']?.memcached?.args).toEqual(['-l', '127.0.0.1', '-m', '256']);
    expect(document?.hosts?.['127.0.0.1-2202']?.memcached?.args).toEqual([
      '-l',
      '127.0.0.1',
      '-m',
      '128',
      '-c',
      '2048',
      '-I',
      '2m',
    ]);
  });

  it('resolved as apply resolves it, every host starts memcached exactly as it runs now, and version_check and the settings gate find nothing to object to', async () => {
    const unitHost: RunningHost = {
      name: 'b1',
      address: '10.0.0.21',
      ssh: {},
      found: described(
        memcachedProcess(
          ['/srv/mc/current/bin/memcached', '-p', '11211', '-l', '10.0.0.21', '-m', '4096', '-B', 'ascii'],
          {
            binary: '/srv/mc/1.6.18/bin/memcached',
            cgroup: ['0::/system.slice/memcached.service'],
          },
        ),
        { check: { pidfilePid: null, unitMainPid: 4242 } },
      ),
    };
    const hosts = [
      labLike(1),
      labLike(2, ['-l', '127.0.0.1', '-m', '128', '-c', '2048', '-I', '2m']),
      unitHost,
    ];
    const { problems, playbook } = await writeAndResolve(hosts);
    expect(problems).toEqual([]);
    for (const host of hosts) {
      const resolved = playbook?.hosts.find((h) => h.name === host.name) as HostConfig;
      const runningArgs = host.found.commandLine.slice(1);
      const { service } = resolved.memcached;
      const startedAs =
        service.manager === 'pidfile'
          ? memcachedStartArgs(resolved, service.pidfile)
          : unitCommandLine(resolved).slice(1);
      expect(startedAs, host.name).toEqual(runningArgs);
      expect(resolved.memcached.prefix, host.name).toBe(host.found.prefix);
      expect(resolved.ssh, host.name).toMatchObject({ ...host.ssh, identityFile: '/home/me/.ssh/lab' });
      expect(
        runningInstanceProblem(
          resolved,
          { pid: host.found.pid, commandLine: host.found.commandLine, runningVersion: '1.6.18' },
          { startsVersion: '1.6.38', acceptSettings: [] },
        ),
        host.name,
      ).toBeNull();
      expect(predictSettings(resolved.memcached.args).settings, host.name).toEqual(
        predictSettings(runningArgs).settings,
      );
    }
    const b1 = playbook?.hosts.find((h) => h.name === 'b1');
    expect(b1?.memcached.service).toMatchObject({ manager: 'systemd', unit: 'memcached.service' });
    expect(b1?.become).toBe(true);
  });

  it('a package install is written, with the warning beside its host in the file', async () => {
    const packaged: RunningHost = {
      name: 'cache3',
      address: 'cache3.example.com',
      ssh: { user: 'root' },
      found: described(
        memcachedProcess(['/usr/bin/memcached', '-m', '64', '-p', '11211', '-u', 'memcache'], {
          binary: '/usr/bin/memcached',
          cgroup: ['0::/system.slice/memcached.service'],
        }),
        { check: { pidfilePid: null, unitMainPid: 4242 }, loginUser: 'root', host: 'cache3' },
      ),
    };
    const { problems, text, document } = await writeAndResolve([packaged]);
    expect(problems).toEqual([]);
    expect(text).toMatch(
      /\n {4}# WARNING: cache3: \/usr\/bin\/memcached \(1\.6\.18\) is not a build under a memplay prefix[^\n]*\n(?: {4}# {3}[^\n]*\n)*/,
    );
    expect(text.replace(/\n {4}# {3}/g, ' ')).toContain(
      'memplay cannot yet upgrade a package install in place',
    );
    expect(document?.defaults?.memcached).toMatchObject({
      args: ['-m', '64', '-u', 'memcache'],
      port: 11211,
    });
    expect(document?.defaults?.memcached?.prefix).toBeUndefined();
  });

  it('an argument with a line break cannot leave its comment; the validator refuses it and nothing is written', async () => {
    expect(commentLines('started as -o "a\nhosts: {}"', '    ')).toEqual([
      '    # started as -o "a?hosts: {}"',
    ]);
    const evil = labLike(1, ['-o', 'x\nhosts: {}']);
    const { problems, dir } = await writeAndResolve([evil]);
    expect(problems.join('\n')).toMatch(/a newline/);
    expect(await readdir(dir)).toEqual([]);
  });
});
