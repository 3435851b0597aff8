import { describe, expect, it } from 'vitest';
import { carriedArgs, hostAsRun } from '../../src/facts/carried-args.js';
import {
  describePackageInstall,
  type PackageInstall,
  packageHoldWarning,
  parsePackageOwner,
  unitLaunch,
} from '../../src/facts/package-install.js';
import { parseSystemctlCat, splitExecStart, unitValues } from '../../src/facts/unit-file.js';
import { loadPlaybook } from '../../src/playbook/index.js';
import { factsEvent, formatFactsTable } from '../../src/report/facts-view.js';
import { debianPackageInstall } from '../support/package-install.js';
import { fixturePlaybook, hostFacts } from '../support/task-context.js';

// A package install is read from what the unit says (systemctl cat), what the
// package manager says of the binary, and what the running process was given.

const debianCat = `# /lib/systemd/system/memcached.service
# It's not recommended to modify this file in-place
[Unit]
Description=memcached daemon
After=network.target

[Service]
ExecStart=/usr/share/memcached/scripts/systemd-memcached-wrapper /etc/memcached.conf
PrivateTmp=true
PIDFile=/run/memcached/memcached.pid
Restart=always

[Install]
WantedBy=multi-user.target

# /etc/systemd/system/memcached.service.d/memplay.conf
# Written by memplay: the unit runs the memcached build <prefix>/current names.
[Service]
Type=exec
ExecStart=
ExecStart="/opt/memcached/current/bin/memcached" "-p" "11211" "-m" "64"
`;

const rpmCat = `# /usr/lib/systemd/system/memcached.service
[Unit]
Description=memcached daemon

[Service]
EnvironmentFile=-/etc/sysconfig/memcached
ExecStart=/usr/bin/memcached -p \${PORT} -u \${USER} -m \${CACHESIZE} -c \${MAXCONN} $OPTIONS
`;

const memplayDropIn = '/etc/systemd/system/memcached.service.d/memplay.conf';

describe('systemctl cat', () => {
  it('splits the output into the unit file and its drop-ins, [Service] keys in order', () => {
    const files = parseSystemctlCat(debianCat);
    expect(files.map((f) => f.path)).toEqual(['/lib/systemd/system/memcached.service', memplayDropIn]);
    expect(files[0]?.service.map((e) => e.key)).toEqual(['ExecStart', 'PrivateTmp', 'PIDFile', 'Restart']);
  });

  it('an empty ExecStart= in a drop-in clears the list; leaving the drop-in out gives the package its own', () => {
    const files = parseSystemctlCat(debianCat);
    expect(unitValues(files, 'ExecStart')).toEqual([
      '"/opt/memcached/current/bin/memcached" "-p" "11211" "-m" "64"',
    ]);
    expect(unitValues(files, 'ExecStart', [memplayDropIn])).toEqual([
      '/usr/share/memcached/scripts/systemd-memcached-wrapper /etc/memcached.conf',
    ]);
  });

  it('ExecStart is split as systemd splits it: prefixes dropped, quotes, escapes, %% and $$', () => {
    // systemd's own `${VAR}`, left for systemd to expand.
    const port = ['$', '{PORT}'].join('');
    expect(splitExecStart(`-/usr/bin/memcached "-l" "127.0.0.1, ::1" \\"x %%y $$z ${port}`)).toEqual([
      '/usr/bin/memcached',
      '-l',
      '127.0.0.1, ::1',
      '"x',
      '%y',
      '$z',
      port,
    ]);
  });
});

describe('what the unit launches', () => {
  it("Debian: the wrapper runs /usr/bin/memcached with the file it is given (memplay's drop-in left out)", () => {
    expect(unitLaunch(parseSystemctlCat(debianCat), memplayDropIn, '/opt/memcached')).toEqual({
      unitFile: '/lib/systemd/system/memcached.service',
      execStart: ['/usr/share/memcached/scripts/systemd-memcached-wrapper', '/etc/memcached.conf'],
      binary: '/usr/bin/memcached',
      configFile: '/etc/memcached.conf',
    });
  });

  it('the wrapper without an argument reads /etc/memcached.conf, as its script says', () => {
    const cat =
      '# /lib/systemd/system/memcached.service\n[Service]\nExecStart=/usr/share/memcached/scripts/systemd-memcached-wrapper\n';
    expect(unitLaunch(parseSystemctlCat(cat), memplayDropIn, '/opt/memcached')?.configFile).toBe(
      '/etc/memcached.conf',
    );
  });

  it("RPM: the binary is ExecStart's program, the settings its EnvironmentFile (the leading - dropped)", () => {
    expect(unitLaunch(parseSystemctlCat(rpmCat), memplayDropIn, '/opt/memcached')).toMatchObject({
      unitFile: '/usr/lib/systemd/system/memcached.service',
      binary: '/usr/bin/memcached',
      configFile: '/etc/sysconfig/memcached',
    });
  });

  it('a unit that runs a build under the prefix, or something else than memcached, is no package install', () => {
    const own =
      '# /etc/systemd/system/mc.service\n[Service]\nExecStart=/opt/memcached/1.6.18/bin/memcached -p 11211\n';
    expect(unitLaunch(parseSystemctlCat(own), memplayDropIn, '/opt/memcached')).toBeNull();
    const other = '# /etc/systemd/system/mc.service\n[Service]\nExecStart=/usr/bin/redis-server\n';
    expect(unitLaunch(parseSystemctlCat(other), memplayDropIn, '/opt/memcached')).toBeNull();
    expect(unitLaunch([], memplayDropIn, '/opt/memcached')).toBeNull();
  });
});

describe("the package manager's answers", () => {
  const dpkg = (extra: string) =>
    `version\tmemcached 1.6.18\npackage\tdpkg\tmemcached\t1.6.18-1+deb12u1\n${extra}`;

  it('dpkg, not held, no unattended-upgrades', () => {
    expect(parsePackageOwner(dpkg('hold\tlibc6\nunattended\t\n'))).toEqual({
      packageManager: 'dpkg',
      packageName: 'memcached',
      packageVersion: '1.6.18-1+deb12u1',
      binaryVersion: '1.6.18',
      held: false,
      autoUpdates: null,
    });
  });

  it('apt-mark showhold naming the package: held', () => {
    expect(parsePackageOwner(dpkg('hold\tmemcached\n'))?.held).toBe(true);
  });

  it('unattended-upgrades counts only installed and switched on by APT::Periodic::Unattended-Upgrade', () => {
    const on = 'unattended\tinstall ok installed\nperiodic\tAPT::Periodic::Unattended-Upgrade "1";\n';
    expect(parsePackageOwner(dpkg(on))?.autoUpdates).toBe('unattended-upgrades');
    const off = 'unattended\tinstall ok installed\nperiodic\tAPT::Periodic::Unattended-Upgrade "0";\n';
    expect(parsePackageOwner(dpkg(off))?.autoUpdates).toBeNull();
    const removed =
      'unattended\tdeinstall ok config-files\nperiodic\tAPT::Periodic::Unattended-Upgrade "1";\n';
    expect(parsePackageOwner(dpkg(removed))?.autoUpdates).toBeNull();
  });

  it('rpm: a versionlock entry holds it; an enabled dnf-automatic timer updates it', () => {
    const rpm = 'version\tmemcached 1.6.12\npackage\trpm\tmemcached\t1.6.12-1.el9\n';
    expect(parsePackageOwner(rpm)).toMatchObject({ packageManager: 'rpm', held: false, autoUpdates: null });
    const locked = `${rpm}versionlock\tmemcached-0:1.6.12-1.el9.*\ntimer\tdnf-automatic-install.timer\n`;
    expect(parsePackageOwner(locked)).toMatchObject({
      held: true,
      autoUpdates: 'dnf-automatic (dnf-automatic-install.timer)',
    });
    expect(parsePackageOwner(`${rpm}versionlock\tmemcached-tools-0:1.6.12-1.el9.*\n`)?.held).toBe(false);
  });

  it('a binary no package owns is no package install', () => {
    expect(parsePackageOwner('version\tmemcached 1.6.18\n')).toBeNull();
  });
});

const install: PackageInstall = debianPackageInstall;

describe('what facts and --check say of it', () => {
  it('one line: version, package, binary, unit and its ExecStart, the settings file', () => {
    expect(describePackageInstall(install)).toBe(
      'memcached 1.6.18 from the dpkg package memcached 1.6.18-1+deb12u1 (/usr/bin/memcached), unit memcached.service ' +
        '(/lib/systemd/system/memcached.service: ExecStart=/usr/share/memcached/scripts/systemd-memcached-wrapper /etc/memcached.conf), ' +
        'settings in /etc/memcached.conf',
    );
  });

  it('the hold warning: what the package manager would do, whether it would unattended, and the command that holds it', () => {
    expect(packageHoldWarning(install)).toBe(
      "the memcached package is not held: upgrading it replaces /usr/bin/memcached and restarts memcached.service behind memplay's back, " +
        'emptying the cache (any package upgrade run on the host would do that) — hold it: apt-mark hold memcached',
    );
    expect(packageHoldWarning({ ...install, autoUpdates: 'unattended-upgrades' })).toContain(
      '(unattended-upgrades is enabled and may do that unattended)',
    );
    expect(packageHoldWarning({ ...install, packageManager: 'rpm' })).toContain(
      'dnf versionlock add memcached',
    );
    expect(packageHoldWarning({ ...install, held: true })).toBeNull();
  });
});

describe('arguments carried over from the running instance', () => {
  it("the program, -p and -d are memplay's to decide; everything else is kept in order", () => {
    expect(
      carriedArgs([
        '/usr/bin/memcached',
        '-m',
        '64',
        '-p',
        '11211',
        '-d',
        '-u',
        'memcache',
        '-l',
        '127.0.0.1',
        '--port=1',
        '-p11211',
        '-c',
        '512',
      ]),
    ).toEqual(['-m', '64', '-u', 'memcache', '-l', '127.0.0.1', '-c', '512']);
  });

  const systemd = { service: { manager: 'systemd', unit: 'memcached.service' } };
  const running = {
    pid: 812,
    commandLine: ['/usr/bin/memcached', '-m', '64', '-p', '11211', '-u', 'memcache', '-l', '127.0.0.1'],
    packageInstall: install,
  };

  it("a package host without memcached.args runs with the running instance's", () => {
    const playbook = fixturePlaybook({ defaults: { memcached: { args: undefined, ...systemd } } });
    const host = playbook.hosts[0]!;
    expect(host.memcached.argsLeftOut).toBe(true);
    expect(hostAsRun(host, hostFacts(running)).memcached.args).toEqual([
      '-m',
      '64',
      '-u',
      'memcache',
      '-l',
      '127.0.0.1',
    ]);
  });

  it("memcached.args written, or no package install: the playbook's args stand", () => {
    const written = fixturePlaybook({ defaults: { memcached: systemd } }).hosts[0]!;
    expect(hostAsRun(written, hostFacts(running))).toBe(written);
    const leftOut = fixturePlaybook({ defaults: { memcached: { args: undefined, ...systemd } } }).hosts[0]!;
    expect(hostAsRun(leftOut, hostFacts({ ...running, packageInstall: null }))).toBe(leftOut);
  });
});

describe('examples/distro-package.yml', () => {
  it("leaves memcached.args out on systemd hosts: their running instance's arguments are carried over", async () => {
    const playbook = await loadPlaybook('examples/distro-package.yml');
    for (const host of playbook.hosts) {
      expect(host.memcached.argsLeftOut, host.name).toBe(true);
      expect(host.memcached.service).toMatchObject({ manager: 'systemd', unit: 'memcached.service' });
    }
  });
});

describe('memplay facts on a package host', () => {
  const playbook = fixturePlaybook({
    defaults: { memcached: { args: undefined, service: { manager: 'systemd', unit: 'memcached.service' } } },
  });
  const facts = hostFacts({
    currentLink: null,
    pid: 812,
    commandLine: ['/usr/bin/memcached', '-m', '64', '-p', '11211', '-l', '127.0.0.1'],
    packageInstall: install,
  });
  const row = {
    host: playbook.hosts[0]!,
    reachable: true as const,
    facts,
    stats: null,
    problem: null,
    transfer: 'sftp' as const,
  };

  it('JSON: the package, its unit and config file, the arguments a run would carry over, the warning', () => {
    const event = factsEvent(row);
    expect(event).toMatchObject({
      package: {
        manager: 'dpkg',
        name: 'memcached',
        version: '1.6.18-1+deb12u1',
        binary: '/usr/bin/memcached',
        binary_version: '1.6.18',
        unit: 'memcached.service',
        unit_file: '/lib/systemd/system/memcached.service',
        config_file: '/etc/memcached.conf',
        held: false,
        auto_updates: null,
        args_carried_over: ['-m', '64', '-l', '127.0.0.1'],
      },
    });
    expect((event as { package?: { warning: string } }).package?.warning).toContain(
      'apt-mark hold memcached',
    );
  });

  it('the table: what the package is, what memcached runs, the carried-over arguments and the warning, under the rows', () => {
    const lines = formatFactsTable([row]).split('\n');
    expect(lines.filter((line) => /^cache-1 [A-Z]+: /.test(line))).toEqual([
      `cache-1 PACKAGE: ${describePackageInstall(install)}`,
      'cache-1 RUNS: /usr/bin/memcached -m 64 -p 11211 -l 127.0.0.1',
      'cache-1 ARGS: memcached.args is left out: carried over from the running instance: -m 64 -l 127.0.0.1',
      `cache-1 WARNING: ${packageHoldWarning(install)}`,
    ]);
  });

  it('a pidfile host has no package field at all; a systemd host without a package install has null', () => {
    const pidfile = fixturePlaybook().hosts[0]!;
    expect(factsEvent({ ...row, host: pidfile, facts: hostFacts() })).not.toHaveProperty('package');
    expect(factsEvent({ ...row, facts: { ...facts, packageInstall: null } })).toHaveProperty('package', null);
  });
});
