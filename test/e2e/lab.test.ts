import { execFile } from 'node:child_process';
import { copyFile, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { cachedBuild } from '../lab/build.js';
import { type Lab, memcachedVersion, resetLab, snapshotHost } from '../lab/index.js';

const lab = inject('lab') as Lab;

describe('the lab fleet is what it claims to be', () => {
  // Test files run in any order and other files leave hosts upgraded: start from the baseline.
  beforeAll(async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
  });

  it.each(lab.hosts.map((h) => [h.name, h] as const))(
    '%s answers version 1.6.18 on its memcached port',
    async (_, host) => {
      expect(await memcachedVersion(host.memcachedPort), `${host.name} port ${host.memcachedPort}`).toBe(
        '1.6.18',
      );
    },
  );

  it.each(lab.hosts.map((h) => [h.name, h] as const))(
    '%s accepts the controller key over ssh with strict host-key checking against the lab known_hosts',
    async (_, host) => {
      const { stdout } = await promisify(execFile)('ssh', [
        '-F',
        '/dev/null',
        '-o',
        'BatchMode=yes',
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        `UserKnownHostsFile=${lab.knownHosts}`,
        '-o',
        'IdentitiesOnly=yes',
        '-i',
        lab.identityFile,
        '-p',
        String(host.sshPort),
        `${host.user}@127.0.0.1`,
        'id',
        '-un',
      ]);
      expect(stdout.trim(), `${host.name}: ssh -p ${host.sshPort} ${host.user}@127.0.0.1 id -un`).toBe(
        host.user,
      );
    },
  );

  it('snapshotHost is the same across two calls when nothing happened', async () => {
    for (const host of lab.hosts) {
      const first = await snapshotHost(lab, host.index);
      const second = await snapshotHost(lab, host.index);
      expect(second, host.name).toEqual(first);
      expect(first.alive, `${host.name}: memcached under ${host.pidfile} is alive`).toBe(true);
      expect(first.stats?.version, host.name).toBe('1.6.18');
      expect(first.files.find((f) => f.path === 'memcached/current')).toMatchObject({
        type: 'symlink',
        target: '1.6.18',
      });
      expect(JSON.parse(JSON.stringify(first)), `${host.name}: the snapshot survives JSON`).toEqual(first);
    }
  });

  // An earlier test may leave another build of the baseline version under its
  // folder (the distro package's 1.6.18, or a TLS build): resetting must put the
  // lab's own build back, not keep whatever reports 1.6.18.
  it('resetLab replaces a baseline folder holding another build of the same version', async () => {
    const host = lab.hosts[0];
    if (!host) throw new Error('the lab has no host1');
    const installed = join(host.prefix, '1.6.18', 'bin', 'memcached');
    const cached = join(await cachedBuild('1.6.18'), 'bin', 'memcached');
    // Renamed over the running binary (a copy onto it is refused: text file busy).
    await copyFile('/usr/bin/memcached', `${installed}.distro`);
    await rename(`${installed}.distro`, installed);
    expect((await readFile(installed)).equals(await readFile(cached))).toBe(false);
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
    expect((await readFile(installed)).equals(await readFile(cached))).toBe(true);
    expect(await memcachedVersion(host.memcachedPort)).toBe('1.6.18');
  });
});
