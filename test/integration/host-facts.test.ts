import { execFile, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { buildMarker, parseProbeOutput, probeCommand } from '../../src/facts/host-facts.js';
import type { HostConfig } from '../../src/playbook/types.js';

const run = promisify(execFile);

async function realCc(): Promise<string> {
  return (await run('/bin/sh', ['-c', 'command -v cc'])).stdout.trim();
}

function hostWithPrefix(prefix: string, pidfile: string): HostConfig {
  return {
    name: 'h',
    address: '127.0.0.1',
    connection: 'local',
    become: false,
    ssh: { user: 'u', port: 22, knownHosts: '/dev/null', connectTimeoutMs: 1000 },
    memcached: { port: 11211, prefix, args: [], keepBuilds: 2, service: { manager: 'pidfile', pidfile } },
  };
}

/** The probe's stdout, run with `ccScript` as the `cc` first on the PATH. */
async function probeWithCc(ccScript: string): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'memplay-probe-'));
  const bin = join(root, 'bin');
  await mkdir(bin);
  await writeFile(join(bin, 'cc'), ccScript);
  await chmod(join(bin, 'cc'), 0o755);
  const env = { PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}` };
  return (await run('/bin/sh', ['-c', probeCommand(hostWithPrefix(join(root, 'none'), '')).text], { env }))
    .stdout;
}

async function fakeBuild(
  prefix: string,
  dir: string,
  reports: string | null,
  marker: 'marked' | 'unmarked' | 'linked marker' = 'marked',
): Promise<void> {
  await mkdir(join(prefix, dir, 'bin'), { recursive: true });
  if (marker === 'marked') await writeFile(join(prefix, dir, buildMarker), '');
  if (marker === 'linked marker') await symlink('/etc/hostname', join(prefix, dir, buildMarker));
  const body = reports ? `#!/bin/sh\necho 'memcached ${reports}'\n` : '#!/bin/sh\nexit 1\n';
  await writeFile(join(prefix, dir, 'bin', 'memcached'), body);
  await chmod(join(prefix, dir, 'bin', 'memcached'), 0o755);
}

describe('the fact probe, run by a real /bin/sh', () => {
  it('finds builds, what each reports, the current link and a live pid — in a prefix with a space and a quote', async () => {
    const root = await mkdtemp(join(tmpdir(), 'memplay-probe-'));
    const prefix = join(root, "mem cached's");
    await fakeBuild(prefix, '1.6.18', '1.6.18');
    await fakeBuild(prefix, '1.6.38', '1.6.38');
    await fakeBuild(prefix, '1.6.9', null);
    // Folders memplay did not install: no marker, or a link where the marker should be.
    await fakeBuild(prefix, '1.6.7', '1.6.7', 'unmarked');
    await fakeBuild(prefix, '1.6.8', '1.6.8', 'linked marker');
    await mkdir(join(prefix, '.memplay-build-1.6.38-abcd'), { recursive: true });
    await symlink('1.6.18', join(prefix, 'current'));
    await symlink(join(prefix, '1.6.9'), join(prefix, 'previous'));
    const pidfile = join(root, 'pid file');
    await writeFile(pidfile, `${process.pid}\n`);

    const { stdout } = await run('/bin/sh', ['-c', probeCommand(hostWithPrefix(prefix, pidfile)).text]);
    const facts = parseProbeOutput(stdout);
    expect(facts.currentLink).toBe('1.6.18');
    // An absolute link names its build too; `previous` itself is not listed as a build.
    expect(facts.previousLink).toBe('1.6.9');
    expect(facts.pid).toBe(process.pid);
    // The live pid's command line, argument by argument, as /proc has it.
    expect(facts.commandLine).toEqual(
      (await readFile(`/proc/${process.pid}/cmdline`, 'utf8')).split('\0').slice(0, -1),
    );
    expect(facts.builds).toEqual([
      { dir: '1.6.7', reportedVersion: '1.6.7', madeByMemplay: false },
      { dir: '1.6.8', reportedVersion: '1.6.8', madeByMemplay: false },
      { dir: '1.6.9', reportedVersion: null, madeByMemplay: true },
      { dir: '1.6.18', reportedVersion: '1.6.18', madeByMemplay: true },
      { dir: '1.6.38', reportedVersion: '1.6.38', madeByMemplay: true },
    ]);
    // The platform a build depends on, as this machine reports it.
    const arch = (await run('uname', ['-m'])).stdout.trim();
    expect(facts.platform.arch).toBe(arch);
    expect(facts.platform.libc).toMatch(/\S/);

    // Later probes of a run skip the platform (it cannot change) and still see the rest.
    const again = await run('/bin/sh', [
      '-c',
      probeCommand(hostWithPrefix(prefix, pidfile), { platform: false }).text,
    ]);
    expect(again.stdout).not.toMatch(/^(arch|libc|libevent)\t/m);
    expect(parseProbeOutput(again.stdout)).toMatchObject({ currentLink: '1.6.18', pid: process.pid });
    expect(parseProbeOutput(again.stdout).builds).toEqual(facts.builds);
  });

  it("leaves out the platform only where the target's build is there and reports the target", async () => {
    const root = await mkdtemp(join(tmpdir(), 'memplay-probe-'));
    const prefix = join(root, 'prefix');
    await fakeBuild(prefix, '1.6.38', '1.6.38');
    await fakeBuild(prefix, '1.6.39', null);
    await fakeBuild(prefix, '1.6.40', '1.6.4');
    const probe = async (unlessBuilt: string) =>
      (
        await run('/bin/sh', [
          '-c',
          probeCommand(hostWithPrefix(prefix, ''), { platform: true, unlessBuilt }).text,
        ])
      ).stdout;
    const built = await probe('1.6.38');
    expect(built).not.toMatch(/^(arch|libc|libevent|missing-build-tools)\t/m);
    expect(parseProbeOutput(built).platform).toEqual({ arch: null, libc: null, libevent: null });
    expect(parseProbeOutput(built).builds.map((b) => b.dir)).toEqual(['1.6.38', '1.6.39', '1.6.40']);
    // A folder that does not run, one that reports another version (1.6.4 is no 1.6.40),
    // and no folder at all: the host needs the build, so the platform is read.
    for (const version of ['1.6.39', '1.6.40', '1.6.45']) {
      expect(await probe(version)).toMatch(/^arch\t\S+$/m);
      expect(parseProbeOutput(await probe(version)).platform.missingBuildTools).toBeDefined();
    }
  });

  it('tells which header is missing when the one preprocessor run for both fails', async () => {
    // A compiler whose preprocessor finds libevent's header but not OpenSSL's.
    const stdout = await probeWithCc(
      '#!/bin/sh\nif grep -q openssl; then echo "fatal error: openssl/ssl.h" >&2; exit 1; fi\nexit 0\n',
    );
    expect(parseProbeOutput(stdout).platform.missingBuildTools).toEqual(['openssl']);
    // The real compiler here has both headers: nothing is missing.
    const root = await mkdtemp(join(tmpdir(), 'memplay-probe-'));
    const real = await run('/bin/sh', ['-c', probeCommand(hostWithPrefix(join(root, 'none'), '')).text]);
    expect(parseProbeOutput(real.stdout).platform.missingBuildTools).toEqual([]);
  });

  it("says both headers are missing where the real compiler's include path has neither", async () => {
    // The real compiler with no system include directories: __has_include finds nothing.
    const stdout = await probeWithCc(`#!/bin/sh\nexec ${await realCc()} -nostdinc "$@"\n`);
    expect(parseProbeOutput(stdout).platform.missingBuildTools).toEqual(['libevent', 'openssl']);
  });

  it('reports no pid for a stale pidfile and nothing for a missing prefix', async () => {
    const root = await mkdtemp(join(tmpdir(), 'memplay-probe-'));
    const pidfile = join(root, 'memcached.pid');
    await writeFile(pidfile, '999999\n');
    const { stdout } = await run('/bin/sh', [
      '-c',
      probeCommand(hostWithPrefix(join(root, 'none'), pidfile)).text,
    ]);
    expect(parseProbeOutput(stdout)).toMatchObject({
      currentLink: null,
      previousLink: null,
      builds: [],
      pid: null,
    });
  });

  it('reports no pid for a zombie, reads a pidfile without a newline, keeps the first line of -V', async () => {
    const root = await mkdtemp(join(tmpdir(), 'memplay-probe-'));
    const prefix = join(root, 'memcached');
    await fakeBuild(prefix, '1.6.38', '1.6.38');
    // A second line after the version: only the first is the build's report.
    await writeFile(
      join(prefix, '1.6.38', 'bin', 'memcached'),
      "#!/bin/sh\necho 'memcached 1.6.38'\necho 'more'\n",
    );
    const pidfile = join(root, 'memcached.pid');
    const host = hostWithPrefix(prefix, pidfile);
    // A live process, its pid written without a trailing newline.
    const live = spawn('sleep', ['30'], { stdio: 'ignore' });
    // A shell that starts a child, then becomes a sleep that never reaps it.
    const parent = spawn(
      '/bin/sh',
      ['-c', `sleep 0.1 & echo $! > ${join(root, 'zombie.pid')}; exec sleep 30`],
      {
        stdio: 'ignore',
      },
    );
    try {
      await writeFile(pidfile, String(live.pid));
      const alive = parseProbeOutput((await run('/bin/sh', ['-c', probeCommand(host).text])).stdout);
      expect(alive).toMatchObject({ pid: live.pid, builds: [{ dir: '1.6.38', reportedVersion: '1.6.38' }] });
      expect(alive.commandLine).toEqual(['sleep', '30']);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const zombie = (await readFile(join(root, 'zombie.pid'), 'utf8')).trim();
      expect((await readFile(`/proc/${zombie}/stat`, 'utf8')).split(') ')[1]?.[0]).toBe('Z');
      await writeFile(pidfile, `${zombie}\n`);
      const dead = parseProbeOutput((await run('/bin/sh', ['-c', probeCommand(host).text])).stdout);
      expect(dead).toMatchObject({ pid: null, commandLine: null });
    } finally {
      live.kill('SIGKILL');
      parent.kill('SIGKILL');
    }
  });

  it('says which build tools the user lacks on its PATH: a PATH with tar and xz but no cc, gcc or make', async () => {
    const root = await mkdtemp(join(tmpdir(), 'memplay-probe-'));
    const bin = join(root, 'bin');
    await mkdir(bin);
    for (const tool of [
      'sh',
      'tar',
      'xz',
      'uname',
      'cat',
      'readlink',
      'basename',
      'head',
      'tr',
      'sed',
      'getconf',
    ]) {
      const found = await run('/bin/sh', ['-c', `command -v ${tool}`]).catch(() => undefined);
      if (found) await symlink(found.stdout.trim(), join(bin, tool));
    }
    const { stdout } = await run(
      '/bin/sh',
      ['-c', probeCommand(hostWithPrefix(join(root, 'none'), '')).text],
      {
        env: { PATH: bin },
      },
    );
    expect(parseProbeOutput(stdout).platform.missingBuildTools).toEqual(['compiler', 'make']);
    // Later probes of a run do not ask again: the platform (tools included) is carried over.
    const again = await run('/bin/sh', [
      '-c',
      probeCommand(hostWithPrefix(join(root, 'none'), ''), { platform: false }).text,
    ]);
    expect(parseProbeOutput(again.stdout).platform.missingBuildTools).toBeUndefined();
  });
});
