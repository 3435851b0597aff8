import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readlink, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseDocument } from 'yaml';
import { run } from '../lab/exec.js';
import { memcachedPid } from '../lab/host.js';
import {
  type Lab,
  memcachedVersion,
  resetHost,
  resetLab,
  startWithArgs,
  writeFleetPlaybook,
} from '../lab/index.js';
import {
  compareDigests,
  digestItems,
  digestItemsClassic,
  generateItems,
  loopbackConnection,
} from '../lab/items/generator.js';
import { recapOf, runMemplay, taskEvents } from './memplay-cli.js';

// target.package: the target build is bookworm's own memcached 1.6.18 (the
// package version 1.6.18-1, which the archive really has), fetched on the host by
// `apt-get download` as the SSH user and unpacked with `dpkg-deb -x`. The old
// version is 1.5.22 built from source, running by pidfile, with the prefix's 1.6.18
// removed so the build task has something to do. The machine's own installed
// memcached package (1.6.18-1+deb12u1) must come out of it untouched.

const lab = inject('lab') as Lab;
const host = lab.hosts[0]!;
const port = host.memcachedPort;
const old = '1.5.22';
const packageVersion = '1.6.18-1';
const from = `from the distro package memcached ${packageVersion} (apt-get download, unpacked, no maintainer scripts)`;

async function packagePlaybook(version: string): Promise<string> {
  const base = await writeFleetPlaybook(lab, { hosts: [host.index], version: '1.6.18' });
  const document = parseDocument(await readFile(base, 'utf8'));
  document.deleteIn(['target', 'source']);
  document.setIn(['target', 'package'], { name: 'memcached', version });
  const path = base.replace(/\.yml$/, `-package-${version}.yml`);
  await writeFile(path, document.toString());
  return path;
}

const sha256Of = async (path: string) =>
  createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
const installedPackage = async () => (await run('dpkg-query', ['--status', 'memcached'])).stdout;

describe(`target.package: ${old} built from source → bookworm's memcached package ${packageVersion}`, () => {
  let playbook: string;

  beforeAll(async () => {
    await resetLab(lab);
    await startWithArgs(host, old, ['-l', '127.0.0.1', '-m', '256']);
    // Only 1.5.22 in the prefix: the target must come from the package.
    await rm(join(host.prefix, '1.6.18'), { recursive: true, force: true });
    playbook = await packagePlaybook(packageVersion);
  }, 600_000);

  afterAll(async () => {
    await resetHost(lab, host.index);
  });

  it('apply --check says the build comes from the distro package, and fails a host whose archive lacks the version', async () => {
    const check = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const build = taskEvents(check).find((t) => t.task === 'build');
    expect(build?.detail).toBe(`unpack 1.6.18 ${from} into ${host.prefix}/1.6.18`);
    expect(check.events.find((e) => e.event === 'plan-summary')).toMatchObject({
      compile: [],
      ship: [],
      unpack: [{ host: host.name, version: '1.6.18' }],
    });
    expect(await memcachedVersion(port)).toBe(old);
    expect(existsSync(join(host.prefix, '1.6.18'))).toBe(false);

    const missing = await runMemplay([
      'apply',
      await packagePlaybook('1.6.18-99'),
      '--check',
      '--output',
      'json',
    ]);
    expect(missing.code, missing.stdout + missing.stderr).not.toBe(0);
    const refused = taskEvents(missing).find((t) => t.task === 'build');
    expect(refused?.status).toBe('failed');
    expect(refused?.detail).toContain(`the host's apt cache does not list memcached 1.6.18-99 (it lists `);
    expect(refused?.detail).toContain(packageVersion);
    expect(await memcachedVersion(port)).toBe(old);
  }, 120_000);

  it(`apply carries every item of ${old} to the package's 1.6.18 exactly; the installed package is untouched`, async () => {
    await generateItems(loopbackConnection(port), {
      seed: 18,
      count: 3_000,
      totalBytes: 4 * 1024 * 1024,
      protocol: 'text',
    });
    const before = await digestItemsClassic(loopbackConnection(port));
    expect(before.size).toBe(3_000);
    const packageBefore = await installedPackage();
    const systemBinary = await sha256Of('/usr/bin/memcached');

    const applied = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const build = taskEvents(applied).find((t) => t.task === 'build');
    expect(build?.detail).toMatch(
      new RegExp(
        `^unpacked 1\\.6\\.18 ${from.replace(/[()+.]/g, '\\$&')}, \\d+ kB \\.deb, every library found, in `,
      ),
    );
    console.info(`package target build: ${build?.detail}`);
    expect(recapOf(applied)[host.name]).toMatchObject({ failed: 0 });

    expect(await memcachedVersion(port)).toBe('1.6.18');
    expect(await readlink(join(host.prefix, 'current'))).toBe('1.6.18');
    const pid = await memcachedPid(host);
    expect(await realpath(`/proc/${pid}/exe`)).toBe(join(host.prefix, '1.6.18', 'bin', 'memcached'));
    expect(existsSync(join(host.prefix, '1.6.18', '.memplay-build'))).toBe(true);
    // The binary is the package's own: the same bytes as usr/bin/memcached of the archive's .deb.
    const scratch = await mkdtemp(join(tmpdir(), 'memplay-deb-'));
    try {
      const fromArchive = await run(
        'sh',
        [
          '-c',
          `apt-get download -q memcached=${packageVersion} >/dev/null 2>&1 && dpkg-deb --fsys-tarfile memcached_*.deb | tar -xO ./usr/bin/memcached | sha256sum`,
        ],
        { cwd: scratch },
      );
      expect(fromArchive.stdout.slice(0, 64)).toBe(
        await sha256Of(join(host.prefix, '1.6.18', 'bin', 'memcached')),
      );
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
    expect((await run('ls', ['-a', host.prefix])).stdout).not.toMatch(/\.memplay-build-/);

    expect(compareDigests(before, await digestItems(loopbackConnection(port)))).toEqual([]);
    // No maintainer script ran, nothing was installed: dpkg's record and the system binary are as they were.
    expect(await installedPackage()).toBe(packageBefore);
    expect(await sha256Of('/usr/bin/memcached')).toBe(systemBinary);

    const again = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(taskEvents(again).find((t) => t.task === 'build')?.status).toBe('ok');
  }, 600_000);
});
