import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseDocument } from 'yaml';
import { run, waitFor } from '../lab/exec.js';
import { stopMemcached } from '../lab/host.js';
import {
  ensureBuild,
  type Lab,
  memcachedStats,
  memcachedVersion,
  resetLab,
  writeFleetPlaybook,
} from '../lab/index.js';
import { generateItems, loopbackConnection } from '../lab/items/generator.js';
import { recapOf, runMemplay, taskEvents } from './memplay-cli.js';

// `manager: systemd` + `become: true` end to end. The lab has neither systemd
// nor sudo, so the host gets stand-ins on its PATH (test/lab/systemd/): a
// systemctl that reads the real unit file and its drop-ins and really starts
// and stops memcached, and a sudo that checks a password but cannot change user.

const lab = inject('lab') as Lab;
const host = lab.hosts[2]!;
const unit = 'memcached-lab.service';
const unitDir = join(host.home, 'systemd');
const dropIn = join(unitDir, `${unit}.d`, 'memplay.conf');
const binDir = join(host.home, 'bin');
const sudoPassword = `sudo-pw-${randomBytes(8).toString('hex')}`;

async function asUser(command: string, args: readonly string[]) {
  return run('runuser', ['-u', host.user, '--', command, ...args], {
    cwd: host.home,
  });
}
const systemctl = (...args: string[]) => asUser(join(binDir, 'systemctl'), args);
const mainPid = async () => Number((await systemctl('show', '-p', 'MainPID', '--value', unit)).stdout.trim());
async function callsLog(): Promise<string[]> {
  const log = join(unitDir, '.state', 'calls.log');
  const lines = existsSync(log) ? (await readFile(log, 'utf8')).trim().split('\n') : [];
  // The test's own reads of the main pid, and memplay's read-only look at the unit
  // (`systemctl cat`, for a package install), change nothing.
  return lines.filter((line) => !/^systemctl (show|cat) /.test(line));
}

async function installStandIns(): Promise<void> {
  await mkdir(binDir, { recursive: true });
  await copyFile(join(lab.repoRoot, 'test', 'lab', 'systemd', 'systemctl.mjs'), join(binDir, 'systemctl'));
  await copyFile(join(lab.repoRoot, 'test', 'lab', 'systemd', 'sudo.mjs'), join(binDir, 'sudo'));
  await chmod(join(binDir, 'systemctl'), 0o755);
  await chmod(join(binDir, 'sudo'), 0o755);
  await writeFile(join(host.home, '.ssh', 'environment'), `PATH=${binDir}:/usr/local/bin:/usr/bin:/bin\n`, {
    mode: 0o600,
  });
  await rm(unitDir, { recursive: true, force: true });
  await mkdir(unitDir, { recursive: true });
  // As a distribution ships it: a fixed binary, not memplay's `current`.
  await writeFile(
    join(unitDir, unit),
    `[Unit]\nDescription=memcached (lab)\n\n[Service]\nExecStart=${host.prefix}/1.6.18/bin/memcached -p ${host.memcachedPort} -l 127.0.0.1 -m 256\n`,
  );
  await rm(join(host.home, '.sudo-standin-password'), { force: true });
  await run('chown', [
    '-R',
    `${host.user}:${host.user}`,
    binDir,
    unitDir,
    join(host.home, '.ssh', 'environment'),
  ]);
}

async function systemdPlaybook(): Promise<string> {
  const base = await writeFleetPlaybook(lab, { hosts: [host.index] });
  const document = parseDocument(await readFile(base, 'utf8'));
  document.setIn(['hosts', host.name, 'memcached', 'service'], {
    manager: 'systemd',
    unit,
    drop_in: dropIn,
  });
  document.setIn(['hosts', host.name, 'become'], true);
  const path = base.replace(/\.yml$/, '-systemd.yml');
  await writeFile(path, document.toString());
  return path;
}

describe('manager: systemd with become: true (systemctl and sudo stand-ins on the lab host)', () => {
  let playbook: string;

  beforeAll(async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
    await ensureBuild(host, '1.6.38');
    await stopMemcached(host);
    await installStandIns();
    await systemctl('start', unit);
    await waitFor(
      `${unit} answering 1.6.18`,
      async () => (await memcachedVersion(host.memcachedPort)) === '1.6.18',
    );
    await generateItems(loopbackConnection(host.memcachedPort), {
      seed: 3,
      count: 1500,
      totalBytes: 1024 * 1024,
    });
    playbook = await systemdPlaybook();
  });

  afterAll(async () => {
    await systemctl('stop', unit).catch(() => {});
    await rm(join(host.home, '.ssh', 'environment'), { force: true });
    await rm(binDir, { recursive: true, force: true });
    await rm(join(host.home, '.sudo-standin-password'), { force: true });
  });

  it('the stand-in really runs the unit: the main pid is the 1.6.18 binary the unit file names', async () => {
    const pid = await mainPid();
    expect(pid).toBeGreaterThan(0);
    expect(await realpath(`/proc/${pid}/exe`)).toBe(`${host.prefix}/1.6.18/bin/memcached`);
  });

  it('apply --check says the drop-in will be written and changes nothing', async () => {
    const pid = await mainPid();
    const run = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(taskEvents(run).find((t) => t.task === 'swap')?.detail).toContain(
      `write drop-in ${dropIn} (ExecStart → ${host.prefix}/current/bin/memcached) and daemon-reload`,
    );
    expect(existsSync(dropIn)).toBe(false);
    expect(await mainPid()).toBe(pid);
  });

  it('apply writes the drop-in, restarts the unit through sudo onto 1.6.38, and every item comes back', async () => {
    const callsBefore = (await callsLog()).length;
    const run = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(await memcachedVersion(host.memcachedPort)).toBe('1.6.38');
    expect(taskEvents(run).find((t) => t.task === 'restore')?.detail).toMatch(/restored 1,500 items/);
    expect(Number((await memcachedStats(host.memcachedPort))?.curr_items)).toBe(1500);

    const text = await readFile(dropIn, 'utf8');
    expect(text).toContain('[Service]\nType=exec\nExecStart=\n');
    expect(text).toContain(
      `ExecStart="${host.prefix}/current/bin/memcached" "-p" "${host.memcachedPort}" "-l" "127.0.0.1" "-m" "256"\n`,
    );
    // The unit, through the drop-in, runs the build `current` names now.
    expect(await realpath(`/proc/${await mainPid()}/exe`)).toBe(`${host.prefix}/1.6.38/bin/memcached`);
    expect((await callsLog()).slice(callsBefore)).toEqual([
      'sudo systemctl daemon-reload',
      `sudo systemctl stop -- ${unit}`,
      `sudo systemctl start -- ${unit}`,
    ]);
  });

  it('a second apply changes nothing: same main pid, no systemctl call', async () => {
    const pid = await mainPid();
    const callsBefore = (await callsLog()).length;
    const run = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(recapOf(run)).toMatchObject({ [host.name]: { changed: 0, failed: 0 } });
    expect(await mainPid()).toBe(pid);
    expect((await callsLog()).slice(callsBefore)).toEqual([]);
  });

  it('memplay rollback with a sudo password (MEMPLAY_BECOME_PASSWORD, given on sudo -S input): back on 1.6.18 with every item, the password nowhere in the output', async () => {
    await writeFile(join(host.home, '.sudo-standin-password'), `${sudoPassword}\n`, { mode: 0o600 });
    await run('chown', [`${host.user}:${host.user}`, join(host.home, '.sudo-standin-password')]);
    const callsBefore = (await callsLog()).length;
    const rollback = await runMemplay(['rollback', playbook, '--output', 'json', '-v'], {
      MEMPLAY_BECOME_PASSWORD: sudoPassword,
    });
    expect(rollback.code, rollback.stdout + rollback.stderr).toBe(0);
    expect(`${rollback.stdout}${rollback.stderr}`).not.toContain(sudoPassword);
    expect(await memcachedVersion(host.memcachedPort)).toBe('1.6.18');
    expect(Number((await memcachedStats(host.memcachedPort))?.curr_items)).toBe(1500);
    expect(await realpath(`/proc/${await mainPid()}/exe`)).toBe(`${host.prefix}/1.6.18/bin/memcached`);
    expect((await callsLog()).slice(callsBefore)).toEqual([
      `sudo systemctl stop -- ${unit}`,
      `sudo systemctl start -- ${unit}`,
    ]);
  });
});
