import { chmod, chown, copyFile, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseDocument } from 'yaml';
import { StallNudge } from '../../src/memcached/tls-nudge.js';
import type { RunEvent } from '../../src/report/events.js';
import { cachedBuild } from '../lab/build.js';
import { run, waitFor } from '../lab/exec.js';
import { memcachedArgs, stopMemcached } from '../lab/host.js';
import { type Lab, resetLab, writeFleetPlaybook } from '../lab/index.js';
import { copyBuildInto } from '../lab/install-build.js';
import { compareDigests, digestItems, generateItems, type StreamFactory } from '../lab/items/generator.js';
import { type LabCertificates, labCertificates } from '../lab/tls-certs.js';
import { recapOf, runMemplay, taskEvents } from './memplay-cli.js';

// memcached with TLS (-Z) on the lab: host1 runs a TLS build of 1.6.18 that
// speaks TLS only and requires a client certificate (ssl_verify_mode 2). Every
// connection memplay opens to it (facts, backup, restore, verify and its gates,
// rollback) must speak TLS inside the SSH tunnel, check the lab CA and present
// the lab's client certificate; a plain connection gets nothing.

const lab = inject('lab') as Lab;
const host = lab.hosts[0]!;
const port = host.memcachedPort;
let certs: LabCertificates;
/** The server's certificate and key where host1's memcached (its own user) reads them. */
const serverDir = join(host.home, 'tls');
const serverFiles = {
  cert: join(serverDir, 'server.pem'),
  key: join(serverDir, 'server.key'),
  ca: join(serverDir, 'ca.pem'),
};
const tlsArgs = () => [
  '-Z',
  '-o',
  `ssl_chain_cert=${serverFiles.cert},ssl_key=${serverFiles.key},ssl_ca_cert=${serverFiles.ca},ssl_verify_mode=2`,
];

type GateEvent = Extract<RunEvent, { event: 'gate' }>;
type TlsGateEvent = Extract<GateEvent, { gate: 'tls' }>;
const gateOf = (events: readonly RunEvent[], name: 'tls') =>
  events.filter((e): e is TlsGateEvent => e.event === 'gate' && e.gate === name);

/** A TLS connection as a client of the lab's memcached makes it: the lab CA, the client certificate. */
const overTls: StreamFactory = async () => {
  const [ca, cert, key] = await Promise.all([
    readFile(certs.ca),
    readFile(certs.clientCert),
    readFile(certs.clientKey),
  ]);
  const socket = await new Promise<TLSSocket>((resolve, reject) => {
    const opened = tlsConnect({ host: '127.0.0.1', port, ca, cert, key }, () => resolve(opened));
    opened.once('error', reject);
  });
  // The lab's item helpers pipeline too, and meet memcached's TLS stall as memplay would
  // (src/memcached/tls-nudge.ts): they write whole requests, so the same quiet nudge is safe.
  const nudge = StallNudge.for(socket, () => true);
  const write = socket.write.bind(socket) as (chunk: unknown, ...rest: unknown[]) => boolean;
  socket.write = ((chunk: unknown, ...rest: unknown[]) => {
    nudge?.rearm();
    return write(chunk, ...rest);
  }) as typeof socket.write;
  socket.on('data', () => nudge?.rearm());
  socket.once('close', () => nudge?.stop());
  return socket;
};

/** What a plain TCP `version` gets back from the port: '' when the connection closes without a line. */
function plainReply(): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => socket.write('version\r\n'));
    let reply = '';
    const done = () => {
      socket.destroy();
      resolve(reply.includes('\r\n') ? reply.slice(0, reply.indexOf('\r\n')) : '');
    };
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('latin1');
      if (reply.includes('\r\n')) done();
    });
    socket.once('close', done);
    socket.once('error', done);
    setTimeout(done, 3000);
  });
}

/** The `version` reply over TLS ('' when none comes within 3 s). */
async function versionOverTls(): Promise<string> {
  const stream = await overTls();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stream.destroy();
      resolve('');
    }, 3000);
    stream.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      stream.destroy();
      resolve(chunk.toString('latin1').trim());
    });
    stream.write('version\r\n');
  });
}

/** host1's memcached restarted as `version` (current → it) with TLS on, as its user. */
async function startTlsInstance(version: string): Promise<void> {
  await stopMemcached(host);
  await run('ln', ['-sfn', version, join(host.prefix, 'current')]);
  await run('chown', ['-h', `${host.user}:${host.user}`, join(host.prefix, 'current')]);
  const binary = join(host.prefix, 'current', 'bin', 'memcached');
  const args = ['-d', '-P', host.pidfile, '-p', String(port), ...memcachedArgs, ...tlsArgs()];
  await run('runuser', ['-u', host.user, '--', binary, ...args], { cwd: host.home });
  await waitFor(`memcached ${version} of ${host.name} with -Z`, async () =>
    (await versionOverTls().catch(() => '')).startsWith(`VERSION ${version}`),
  );
}

/** The lab playbook for host1 with memcached.tls naming the lab CA and client certificate. */
async function tlsPlaybook(name: string, args: readonly string[]): Promise<string> {
  // A backup folder of its own: an earlier run's unrestored backup there would be resumed.
  const backupDir = await mkdtemp(join(lab.dir, `backups-tls-${name}-`));
  const base = await writeFleetPlaybook(lab, { hosts: [1], memcachedArgs: args, backupDir });
  const document = parseDocument(await readFile(base, 'utf8'));
  document.setIn(['defaults', 'memcached', 'tls'], {
    ca_file: certs.ca,
    cert_file: certs.clientCert,
    key_file: certs.clientKey,
  });
  // The lab shares 2 cores with other work: the performance gate is not this test's subject.
  document.setIn(['verify'], { max_latency_regression: 50, min_throughput_ratio: 0.01 });
  const path = base.replace(/\.yml$/, `-${name}.yml`);
  await writeFile(path, document.toString());
  return path;
}

describe('memcached with TLS (-Z): every connection speaks TLS through the tunnel', () => {
  beforeAll(async () => {
    await resetLab(lab);
    certs = await labCertificates(join(lab.dir, 'tls'));
    await mkdir(serverDir, { recursive: true });
    await copyFile(certs.serverCert, serverFiles.cert);
    await copyFile(certs.serverKey, serverFiles.key);
    await copyFile(certs.ca, serverFiles.ca);
    const ids = (flag: string) => run('id', [flag, host.user]).then((r) => Number(r.stdout.trim()));
    const [uid, gid] = await Promise.all([ids('-u'), ids('-g')]);
    for (const path of [serverDir, ...Object.values(serverFiles)]) await chown(path, uid, gid);
    await chmod(serverFiles.key, 0o600);
    // The baseline 1.6.18, built with TLS (its own cache key), in place of the plain one.
    await copyBuildInto(host, '1.6.18', await cachedBuild('1.6.18', { tls: true }));
    await startTlsInstance('1.6.18');
  }, 600_000);

  afterAll(async () => {
    // Back to the plain baseline build the other tests expect.
    await stopMemcached(host);
    await copyBuildInto(host, '1.6.18', await cachedBuild('1.6.18'));
    await resetLab(lab);
  }, 300_000);

  it('the lab instance serves TLS only: a plain TCP client gets no answer', async () => {
    expect(await versionOverTls()).toBe('VERSION 1.6.18');
    expect(await plainReply()).toBe('');
  });

  it('apply upgrades 1.6.18 → 1.6.38, building with --enable-tls: every item exact, the tls gate passed, nothing of the client key in the output', async () => {
    await generateItems(overTls, { seed: 41, count: 3000, totalBytes: 3 * 1024 * 1024 });
    const before = await digestItems(overTls);
    expect(before.size).toBe(3000);
    const playbook = await tlsPlaybook('tls', [...memcachedArgs, ...tlsArgs()]);

    const check = await runMemplay(['apply', playbook, '--check', '--output', 'plain']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout).toMatch(
      /build 1\.6\.38 from memcached_1\.6\.38\.orig\.tar\.xz with --enable-tls into /,
    );
    expect(check.stdout).toMatch(/^host1 verify gate tls skipped: measured during apply/m);

    const applied = await runMemplay(['apply', playbook, '--output', 'json', '-v']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    expect(recapOf(applied)).toMatchObject({ host1: { failed: 0, unreachable: false } });
    const tasks = taskEvents(applied);
    expect(tasks.find((t) => t.task === 'version_check')?.detail).toContain('1.6.18');
    expect(tasks.find((t) => t.task === 'build')?.status).toBe('changed');
    expect(tasks.find((t) => t.task === 'restore')?.detail).toMatch(/restored 3,000 items/);
    const [tls] = gateOf(applied.events, 'tls');
    expect(tls?.status, tls?.detail).toBe('passed');
    expect(tls?.detail).toBe(
      'serves TLS with the same certificate chain (memplay lab server), ssl_min_version and ssl_verify_mode',
    );
    expect(tls?.checks?.map((c) => [c.aspect, c.before === c.after])).toEqual([
      ['served', true],
      ['chain', true],
      ['min_version', true],
      ['verify_mode', true],
    ]);
    expect(tls?.checks?.find((c) => c.aspect === 'verify_mode')?.after).toBe('3');
    const output = applied.stdout + applied.stderr;
    expect(output).not.toContain(certs.clientKey);
    const keyLine = (await readFile(certs.clientKey, 'utf8')).split('\n')[1]!;
    expect(output).not.toContain(keyLine);

    // The new build serves TLS only, with every item exact (value, flags, expiry).
    expect(await versionOverTls()).toBe('VERSION 1.6.38');
    expect(await plainReply()).toBe('');
    expect(compareDigests(before, await digestItems(overTls))).toEqual([]);
  }, 600_000);

  it('a new instance started without -Z fails the tls gate at its start, and the host rolls back to 1.6.18 over TLS with every item', async () => {
    await startTlsInstance('1.6.18');
    await generateItems(overTls, { seed: 42, count: 2000, totalBytes: 2 * 1024 * 1024 });
    const before = await digestItems(overTls);
    // memcached.tls still set; the args the new build is started with have lost -Z.
    const playbook = await tlsPlaybook('no-z', memcachedArgs);

    const check = await runMemplay(['apply', playbook, '--check', '--output', 'plain']);
    expect(check.code, check.stdout + check.stderr).toBe(2);
    expect(check.stdout).toContain(
      'host1 verify gate tls would fail: the running instance serves TLS and memcached.args has no -Z: the new one would serve plain TCP',
    );

    const applied = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(2);
    const [tls] = gateOf(applied.events, 'tls');
    expect(tls?.task).toBe('swap');
    expect(tls?.status).toBe('failed');
    expect(tls?.detail).toMatch(
      new RegExp(
        `^changed for TLS clients: served yes → no \\(host1: port ${port} serves plain TCP, not TLS`,
      ),
    );
    const tasks = taskEvents(applied);
    expect(tasks.find((t) => t.task === 'swap')?.detail).toContain('tls gate failed');
    const rollback = tasks.find((t) => t.task === 'rollback');
    expect(rollback?.status, rollback?.detail).toBe('changed');
    expect(rollback?.detail).toMatch(/^rolled back to 1\.6\.18, serving on port \d+ with 2,000 items/);

    expect(await versionOverTls()).toBe('VERSION 1.6.18');
    expect(await plainReply()).toBe('');
    expect(compareDigests(before, await digestItems(overTls))).toEqual([]);
  }, 600_000);
});
