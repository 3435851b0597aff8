import { randomBytes } from 'node:crypto';
import { chown, readdir, readFile, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parseDocument } from 'yaml';
import { authenticate } from '../../src/memcached/ascii-auth.js';
import { run, waitFor } from '../lab/exec.js';
import { memcachedArgs, stopMemcached } from '../lab/host.js';
import { ensureBuild, type Lab, memcachedVersion, resetLab, writeFleetPlaybook } from '../lab/index.js';
import {
  compareDigests,
  digestItems,
  generateItems,
  loopbackConnection,
  type StreamFactory,
} from '../lab/items/generator.js';
import { recapOf, runMemplay, taskEvents } from './memplay-cli.js';

const lab = inject('lab') as Lab;
const host = lab.hosts[0]!;
const user = 'mpcache';
// Distinctive, so any appearance in output or a backup is this password and nothing else.
const password = `mc-pw-${randomBytes(9).toString('hex')}`;
const authfile = join(host.home, 'memcached-auth');
const environment = { MP_MC_USER: user, MP_MC_PASSWORD: password };

/** A loopback connection that has authenticated, as a client of an authenticated memcached would. */
const authenticated =
  (port: number, pass = password): StreamFactory =>
  async () =>
    authenticate(await loopbackConnection(port)(), { user, password: pass });

/** One unauthenticated text command's first reply line. */
function rawReply(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write(`${command}\r\n`));
    let reply = '';
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      const end = reply.indexOf('\r\n');
      if (end >= 0) {
        socket.destroy();
        resolve(reply.slice(0, end));
      }
    });
    socket.on('error', reject);
  });
}

/** The lab host's 1.6.18 restarted with ASCII authentication on (-Y), as its user. */
async function startWithAuth(): Promise<void> {
  await writeFile(authfile, `${user}:${password}\n`, { mode: 0o600 });
  const uid = Number((await run('id', ['-u', host.user])).stdout.trim());
  const gid = Number((await run('id', ['-g', host.user])).stdout.trim());
  await chown(authfile, uid, gid);
  await stopMemcached(host);
  const binary = join(host.prefix, 'current', 'bin', 'memcached');
  const args = ['-d', '-P', host.pidfile, '-p', String(host.memcachedPort), ...memcachedArgs, '-Y', authfile];
  await run('runuser', ['-u', host.user, '--', binary, ...args], { cwd: host.home });
  await waitFor(
    `memcached of ${host.name} with -Y`,
    async () =>
      (await rawReply(host.memcachedPort, 'version').catch(() => '')) === 'CLIENT_ERROR unauthenticated',
  );
}

/** The lab playbook for host1 with `-Y` in its args and `memcached.auth` naming the variables. */
async function authPlaybook(): Promise<string> {
  const base = await writeFleetPlaybook(lab, {
    hosts: [1],
    memcachedArgs: [...memcachedArgs, '-Y', authfile],
  });
  const document = parseDocument(await readFile(base, 'utf8'));
  document.setIn(['defaults', 'memcached', 'auth'], {
    user_env: 'MP_MC_USER',
    password_env: 'MP_MC_PASSWORD',
  });
  const path = base.replace(/\.yml$/, '-auth.yml');
  await writeFile(path, document.toString());
  return path;
}

describe('memcached with ASCII authentication (-Y authfile)', () => {
  let playbook: string;

  beforeAll(async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
    // The cached 1.6.38 build: this test is about authentication, not compiling.
    await ensureBuild(host, '1.6.38');
    await startWithAuth();
    playbook = await authPlaybook();
  });

  it('without credentials the lab memcached answers nothing, so memplay must authenticate', async () => {
    expect(await rawReply(host.memcachedPort, 'version')).toBe('CLIENT_ERROR unauthenticated');
    expect(await rawReply(host.memcachedPort, 'mg foo v')).toBe('CLIENT_ERROR unauthenticated');
  });

  it('a variable that is not set: exit 4 before any host is contacted, naming the key and the variable', async () => {
    const run = await runMemplay(['apply', playbook, '--check', '--output', 'plain'], { MP_MC_USER: user });
    expect(run.code, run.stdout + run.stderr).toBe(4);
    expect(run.stderr).toMatch(
      /:\d+:\d+: defaults\.memcached\.auth\.password_env: the environment variable MP_MC_PASSWORD is not set/,
    );
  });

  it('a wrong password: the host is not touched, and the message names the variables and the fix', async () => {
    const run = await runMemplay(['apply', playbook, '--output', 'json'], {
      ...environment,
      MP_MC_PASSWORD: `${password}-wrong`,
    });
    expect(run.code).toBe(3);
    const unreachable = run.events.find((e) => e.event === 'unreachable');
    expect(JSON.stringify(unreachable)).toContain(
      'memcached refused the credentials (CLIENT_ERROR authentication failure) on port',
    );
    expect(JSON.stringify(unreachable)).toContain('MP_MC_USER and MP_MC_PASSWORD');
    expect(`${run.stdout}${run.stderr}`).not.toContain(password);
    expect(await rawReply(host.memcachedPort, 'version')).toBe('CLIENT_ERROR unauthenticated');
    expect(taskEvents(run).filter((t) => t.task === 'swap')).toEqual([]);
  });

  it('apply upgrades 1.6.18 → 1.6.38 with every item: version check, backup, restore and verify authenticate; the password appears nowhere', async () => {
    await generateItems(authenticated(host.memcachedPort), {
      seed: 7,
      count: 3000,
      totalBytes: 3 * 1024 * 1024,
    });
    const before = await digestItems(authenticated(host.memcachedPort));
    expect(before.size).toBe(3000);

    const run = await runMemplay(['apply', playbook, '--output', 'json', '-v'], environment);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(recapOf(run)).toMatchObject({ host1: { failed: 0, unreachable: false } });
    const tasks = taskEvents(run);
    expect(tasks.find((t) => t.task === 'version_check')?.detail).toContain('1.6.18');
    expect(tasks.find((t) => t.task === 'backup')?.status).toBe('changed');
    expect(tasks.find((t) => t.task === 'restore')?.detail).toMatch(/restored 3,000 items/);
    expect(tasks.find((t) => t.task === 'verify')?.detail).toContain('sampled items match the backup');
    expect(`${run.stdout}${run.stderr}`).not.toContain(password);

    // The new build runs with -Y too, and holds every item.
    expect(await rawReply(host.memcachedPort, 'version')).toBe('CLIENT_ERROR unauthenticated');
    expect(await memcachedVersion(host.memcachedPort)).toBeNull();
    const version = await new Promise<string>((resolve, reject) => {
      authenticated(host.memcachedPort)()
        .then((stream) => {
          stream.once('data', (chunk: Buffer) => {
            stream.destroy();
            resolve(chunk.toString('latin1').trim());
          });
          stream.write('version\r\n');
        })
        .catch(reject);
    });
    expect(version).toBe('VERSION 1.6.38');
    // Expiry is compared loosely: this test is about authentication, data.test.ts holds the 2 s bound under less load.
    expect(compareDigests(before, await digestItems(authenticated(host.memcachedPort)), 5)).toEqual([]);

    // Nothing of the credentials went into the cache, nor into a backup.
    const dir = join(lab.dir, 'backups', 'host1');
    const files = (await readdir(dir)).filter((f) => f.endsWith('.mpbak'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect((await readFile(join(dir, file))).includes(password), file).toBe(false);
  });

  it('a second apply finds 1.6.38 serving through the credentials and changes nothing', async () => {
    const run = await runMemplay(['apply', playbook, '--output', 'json'], environment);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(recapOf(run)).toMatchObject({ host1: { changed: 0, failed: 0 } });
  });

  it('memplay backup of the authenticated instance: every item in the file', async () => {
    const run = await runMemplay(['backup', playbook, '--output', 'json'], environment);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(taskEvents(run).find((t) => t.task === 'backup')?.detail).toMatch(/3,000 items/);
  });
});
