import { existsSync } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseDocument } from 'yaml';
import type { FactsEvent } from '../../src/report/facts-view.js';
import { run, waitFor } from '../lab/exec.js';
import { installFakeBuild } from '../lab/fake-build.js';
import { stopMemcached } from '../lab/host.js';
import { ensureBuild, type Lab, memcachedVersion, resetLab, writeFleetPlaybook } from '../lab/index.js';
import {
  compareDigests,
  digestItems,
  generateItems,
  type ItemDigest,
  loopbackConnection,
} from '../lab/items/generator.js';
import { recapOf, runMemplay, taskEvents } from './memplay-cli.js';

// A memcached installed from the distribution's package, adopted: the host runs
// the Debian package's real /usr/bin/memcached (1.6.18) through the package's
// own wrapper and a config file, the way memcached.service does, and the
// playbook leaves memcached.args out. The lab has no systemd and the wrapper
// refuses to run as anyone but root, so each piece is the host's own copy: the
// unit file (the package's, its ExecStart pointed at the copies), the wrapper
// (the package's script without its root check) and the config file (in the
// host's folder, not /etc). systemctl and sudo are the lab's stand-ins
// (test/lab/systemd/). dpkg, apt-mark and apt-config are the machine's own.

const lab = inject('lab') as Lab;
const host = lab.hosts[1]!;
const unit = 'memcached.service';
const unitDir = join(host.home, 'systemd');
const unitFile = join(unitDir, unit);
const dropIn = join(unitDir, `${unit}.d`, 'memplay.conf');
const binDir = join(host.home, 'bin');
const packageDir = join(host.home, 'pkg');
const configFile = join(packageDir, 'memcached.conf');
const wrapper = join(binDir, 'systemd-memcached-wrapper');
const packagePidfile = join(packageDir, 'memcached.pid');
const debianWrapper = '/usr/share/memcached/scripts/systemd-memcached-wrapper';
const debianUnit = '/lib/systemd/system/memcached.service';
/** What the package's config file makes of memcached's command line, -p aside. */
const packageArgs = ['-m', '64', '-u', 'memcache', '-l', '127.0.0.1', '-c', '512', '-P', packagePidfile];

const asUser = (command: string, args: readonly string[]) =>
  run('runuser', ['-u', host.user, '--', command, ...args], { cwd: host.home });
const systemctl = (...args: string[]) => asUser(join(binDir, 'systemctl'), args);
const mainPid = async () => Number((await systemctl('show', '-p', 'MainPID', '--value', unit)).stdout.trim());
async function callsLog(): Promise<string[]> {
  const log = join(unitDir, '.state', 'calls.log');
  const lines = existsSync(log) ? (await readFile(log, 'utf8')).trim().split('\n') : [];
  // The test's own reads and memplay's fact probes (show, cat) change nothing.
  return lines.filter((line) => !/^systemctl (show|cat) /.test(line));
}

async function installPackageHost(): Promise<void> {
  await mkdir(binDir, { recursive: true });
  await copyFile(join(lab.repoRoot, 'test', 'lab', 'systemd', 'systemctl.mjs'), join(binDir, 'systemctl'));
  await copyFile(join(lab.repoRoot, 'test', 'lab', 'systemd', 'sudo.mjs'), join(binDir, 'sudo'));
  // The package's wrapper as it is, less the check that only root runs it.
  const script = await readFile(debianWrapper, 'utf8');
  const unprivileged = script.replace(/if\(\$> != 0 and \$< != 0\)\s*\{[^}]*\}\n/, '');
  expect(unprivileged, `the root check of ${debianWrapper}`).not.toBe(script);
  await writeFile(wrapper, unprivileged);
  for (const tool of ['systemctl', 'sudo', 'systemd-memcached-wrapper'])
    await chmod(join(binDir, tool), 0o755);
  await writeFile(join(host.home, '.ssh', 'environment'), `PATH=${binDir}:/usr/local/bin:/usr/bin:/bin\n`, {
    mode: 0o600,
  });
  await rm(unitDir, { recursive: true, force: true });
  await mkdir(unitDir, { recursive: true });
  // The package's unit file, its ExecStart pointed at the host's copies of the wrapper and the config.
  const packaged = await readFile(debianUnit, 'utf8');
  await writeFile(unitFile, packaged.replace(/^ExecStart=.*$/m, `ExecStart=${wrapper} ${configFile}`));
  await rm(packageDir, { recursive: true, force: true });
  await mkdir(packageDir, { recursive: true });
  await writeFile(
    configFile,
    [
      "# memcached default config file (the lab host's copy of the package's /etc/memcached.conf)",
      '-d',
      'logfile /var/log/memcached.log',
      '-m 64',
      `-p ${host.memcachedPort}`,
      '-u memcache',
      '-l 127.0.0.1',
      '-c 512',
      `-P ${packagePidfile}`,
      '',
    ].join('\n'),
  );
  await run('chown', [
    '-R',
    `${host.user}:${host.user}`,
    binDir,
    unitDir,
    packageDir,
    join(host.home, '.ssh', 'environment'),
  ]);
  // The host never had memplay: no `current`, no `previous` in the prefix.
  await rm(join(host.prefix, 'current'), { force: true });
  await rm(join(host.prefix, 'previous'), { force: true });
}

async function packagePlaybook(): Promise<string> {
  const base = await writeFleetPlaybook(lab, { hosts: [host.index] });
  const document = parseDocument(await readFile(base, 'utf8'));
  // Adopted as it is: the package's settings are carried over, not retyped.
  document.deleteIn(['defaults', 'memcached', 'args']);
  document.setIn(['hosts', host.name, 'memcached', 'service'], { manager: 'systemd', unit, drop_in: dropIn });
  document.setIn(['hosts', host.name, 'become'], true);
  const path = base.replace(/\.yml$/, '-package.yml');
  await writeFile(path, document.toString());
  return path;
}

const direct = () => loopbackConnection(host.memcachedPort);
const exe = async () => realpath(`/proc/${await mainPid()}/exe`);
const cmdline = async () =>
  (await readFile(`/proc/${await mainPid()}/cmdline`, 'latin1')).split('\0').filter((arg) => arg !== '');

describe('a memcached from the distro package: adopted, upgraded to a build, rolled back to the package', () => {
  let playbook: string;
  let items: Map<string, ItemDigest>;
  let configBefore: string;

  beforeAll(async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
    await ensureBuild(host, '1.6.38');
    await stopMemcached(host);
    await installPackageHost();
    await systemctl('start', unit);
    await waitFor(
      `${unit} answering 1.6.18`,
      async () => (await memcachedVersion(host.memcachedPort)) === '1.6.18',
    );
    await generateItems(direct(), { seed: 16, count: 1500, totalBytes: 1024 * 1024 });
    items = await digestItems(direct());
    configBefore = await readFile(configFile, 'utf8');
    playbook = await packagePlaybook();
  });

  afterAll(async () => {
    await systemctl('stop', unit).catch(() => {});
    await rm(join(host.home, '.ssh', 'environment'), { force: true });
    await rm(binDir, { recursive: true, force: true });
    await rm(unitDir, { recursive: true, force: true });
    await rm(packageDir, { recursive: true, force: true });
    // The last test's broken 1.6.38 must not pass for a build in the files after this one.
    await rm(join(host.prefix, '1.6.38'), { recursive: true, force: true });
  });

  it("the unit really runs the package binary through the wrapper, with the config file's settings", async () => {
    expect(await exe()).toBe('/usr/bin/memcached');
    expect(await cmdline()).toEqual([
      '/usr/bin/memcached',
      '-m',
      '64',
      '-p',
      String(host.memcachedPort),
      ...packageArgs.slice(2),
    ]);
  });

  it('memplay facts recognises the package install: package, unit, config file, the arguments it would carry over, and the hold warning', async () => {
    const facts = await runMemplay(['facts', playbook, '--output', 'json']);
    expect(facts.code, facts.stdout + facts.stderr).toBe(0);
    const row = JSON.parse(facts.stdout.trim().split('\n')[0] as string) as FactsEvent;
    expect(row.problem).toBeNull();
    expect(row.package).toMatchObject({
      manager: 'dpkg',
      name: 'memcached',
      binary: '/usr/bin/memcached',
      binary_version: '1.6.18',
      unit,
      unit_file: unitFile,
      exec_start: [wrapper, configFile],
      config_file: configFile,
      held: false,
      args_carried_over: packageArgs,
    });
    expect(row.package?.version).toMatch(/^1\.6\.18-/);
    expect(row.package?.warning).toContain('apt-mark hold memcached');

    const table = await runMemplay(['facts', playbook]);
    expect(table.code, table.stdout + table.stderr).toBe(0);
    expect(table.stdout).toContain(`${host.name} PACKAGE: memcached 1.6.18 from the dpkg package memcached`);
    expect(table.stdout).toContain(`settings in ${configFile}`);
    expect(table.stdout).toContain(
      `${host.name} ARGS: memcached.args is left out: carried over from the running instance: ${packageArgs.join(' ')}`,
    );
    expect(table.stdout).toMatch(
      new RegExp(
        `${host.name} WARNING: the memcached package is not held: .* hold it: apt-mark hold memcached`,
      ),
    );
  });

  it('apply --check says the arguments are carried over and warns about the hold; nothing changes', async () => {
    const pid = await mainPid();
    const check = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const tasks = taskEvents(check);
    const versionCheck = tasks.find((t) => t.task === 'version_check')?.detail ?? '';
    expect(versionCheck).toContain(
      `memcached.args carried over from the running instance: ${packageArgs.join(' ')}`,
    );
    expect(versionCheck).toContain('package install: memcached 1.6.18 from the dpkg package memcached');
    expect(versionCheck).toContain('WARNING: the memcached package is not held');
    expect(tasks.find((t) => t.task === 'swap')?.detail).toContain(
      `write drop-in ${dropIn} (ExecStart → ${host.prefix}/current/bin/memcached) and daemon-reload`,
    );
    expect(existsSync(dropIn)).toBe(false);
    expect(await mainPid()).toBe(pid);
  });

  it('apply points the unit at 1.6.38 with the carried-over arguments; every item is back exact; the package is untouched', async () => {
    const callsBefore = (await callsLog()).length;
    const apply = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(await memcachedVersion(host.memcachedPort)).toBe('1.6.38');
    expect(compareDigests(items, await digestItems(direct()))).toEqual([]);
    expect(await exe()).toBe(`${host.prefix}/1.6.38/bin/memcached`);
    expect(await cmdline()).toEqual([
      `${host.prefix}/current/bin/memcached`,
      '-p',
      String(host.memcachedPort),
      ...packageArgs,
    ]);
    expect(await readFile(dropIn, 'utf8')).toContain(
      `ExecStart=${[`${host.prefix}/current/bin/memcached`, '-p', String(host.memcachedPort), ...packageArgs].map((w) => `"${w}"`).join(' ')}\n`,
    );
    expect(taskEvents(apply).find((t) => t.task === 'swap')?.detail).toMatch(
      /^the memcached package → 1\.6\.38 cold/,
    );
    // The package's unit file and config are as they were; the unit just has memplay's drop-in besides.
    expect(await readFile(configFile, 'utf8')).toBe(configBefore);
    expect(await readFile(unitFile, 'utf8')).toContain(`ExecStart=${wrapper} ${configFile}`);
    expect(existsSync(join(host.prefix, 'previous'))).toBe(false);
    expect((await callsLog()).slice(callsBefore)).toEqual([
      'sudo systemctl daemon-reload',
      `sudo systemctl stop -- ${unit}`,
      `sudo systemctl start -- ${unit}`,
    ]);
  });

  it("a second apply changes nothing: the carried-over arguments are the drop-in's already", async () => {
    const pid = await mainPid();
    const again = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(recapOf(again)).toMatchObject({ [host.name]: { changed: 0, failed: 0 } });
    expect(await mainPid()).toBe(pid);
  });

  it('memplay rollback returns to the package binary: drop-in removed, unit restarted, every item exact', async () => {
    // What clients hold now, on 1.6.38: the rollback must carry exactly this back.
    const onBuild = await digestItems(direct());
    expect(compareDigests(items, onBuild)).toEqual([]);
    const callsBefore = (await callsLog()).length;
    const rollback = await runMemplay(['rollback', playbook, '--output', 'json']);
    expect(rollback.code, rollback.stdout + rollback.stderr).toBe(0);
    const tasks = taskEvents(rollback);
    expect(tasks.find((t) => t.task === 'version_check')?.detail).toContain(
      'roll back to 1.6.18 (the memcached package)',
    );
    expect(await memcachedVersion(host.memcachedPort)).toBe('1.6.18');
    expect(compareDigests(onBuild, await digestItems(direct()))).toEqual([]);
    expect(await exe()).toBe('/usr/bin/memcached');
    expect(await cmdline()).toEqual([
      '/usr/bin/memcached',
      '-m',
      '64',
      '-p',
      String(host.memcachedPort),
      ...packageArgs.slice(2),
    ]);
    expect(existsSync(dropIn)).toBe(false);
    await expect(lstat(join(host.prefix, 'current'))).rejects.toThrow();
    expect((await callsLog()).slice(callsBefore)).toEqual([
      `sudo systemctl stop -- ${unit}`,
      'sudo systemctl daemon-reload',
      `sudo systemctl start -- ${unit}`,
    ]);
  });

  it('a second rollback changes nothing: the package serves already', async () => {
    const pid = await mainPid();
    const again = await runMemplay(['rollback', playbook, '--output', 'json']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(recapOf(again)).toMatchObject({ [host.name]: { changed: 0, failed: 0 } });
    expect(await mainPid()).toBe(pid);
  });

  it('an upgrade whose new build will not start goes back to the package binary by itself, every item exact, exit 2', async () => {
    const before = await digestItems(direct());
    await installFakeBuild(host, '1.6.38', '1.6.38');
    const apply = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(apply.code, apply.stdout + apply.stderr).toBe(2);
    const tasks = taskEvents(apply);
    expect(tasks.find((t) => t.task === 'swap')?.detail).toMatch(/^1\.6\.38 did not start: /);
    const rollback = tasks.find((t) => t.task === 'rollback');
    expect(rollback?.status, rollback?.detail).toBe('changed');
    expect(rollback?.detail).toMatch(/^rolled back to 1\.6\.18, serving on port \d+ with 1,500 items/);
    expect(await memcachedVersion(host.memcachedPort)).toBe('1.6.18');
    expect(await exe()).toBe('/usr/bin/memcached');
    expect(existsSync(dropIn)).toBe(false);
    expect(compareDigests(before, await digestItems(direct()))).toEqual([]);
  });
});
