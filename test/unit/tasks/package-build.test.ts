import { describe, expect, it } from 'vitest';
import { summarizePlans } from '../../../src/engine/plan-summary.js';
import { TaskFailed } from '../../../src/errors.js';
import { loadPlaybook } from '../../../src/playbook/index.js';
import type { Target, TargetPackage } from '../../../src/playbook/types.js';
import { formatPlanSummary } from '../../../src/report/plan-view.js';
import { build } from '../../../src/tasks/build.js';
import {
  choosePackageVersion,
  missingLibraries,
  parseMadison,
  upstreamOf,
} from '../../../src/tasks/package-build.js';
import { resolveText } from '../../support/playbook-helpers.js';
import { answers, RecordingTransport } from '../../support/recording-transport.js';
import { hostFacts, taskContext } from '../../support/task-context.js';

// target.package: build's plan asks the host's apt what its archive lists (read-only,
// one round trip) and decides the package version; apply downloads it with apt-get,
// unpacks it with dpkg-deb -x, checks its libraries with ldd, then the same check and
// rename as every build.

const madison = [
  ' memcached | 1.6.18-1+deb12u1 | http://deb.debian.org/debian-security bookworm-security/main amd64 Packages',
  ' memcached |   1.6.18-1 | http://deb.debian.org/debian bookworm/main amd64 Packages',
  ' memcached |   1.6.18-1 | http://deb.debian.org/debian bookworm/main Sources',
  '',
].join('\n');

const latest = { kind: 'package', name: 'memcached', version: null } as const satisfies TargetPackage;
const target = (source: TargetPackage, version = '1.6.18'): Target => ({
  version,
  source,
  sha256: '',
  configure: [],
});
const oldHost = hostFacts({
  runningVersion: '1.5.22',
  currentLink: null,
  builds: [{ dir: '1.5.22', reportedVersion: '1.5.22', madeByMemplay: true }],
});

describe('which package version a host would unpack', () => {
  it("reads apt-cache madison's binary packages, not its source lines", () => {
    expect(parseMadison(madison, 'memcached')).toEqual([
      {
        version: '1.6.18-1+deb12u1',
        archive: 'http://deb.debian.org/debian-security bookworm-security/main amd64 Packages',
      },
      { version: '1.6.18-1', archive: 'http://deb.debian.org/debian bookworm/main amd64 Packages' },
    ]);
  });

  it('takes the upstream release out of a Debian version: epoch, revision and +dfsg dropped', () => {
    expect(upstreamOf('1.6.18-1+deb12u1')).toBe('1.6.18');
    expect(upstreamOf('1:1.6.21+dfsg-2ubuntu1')).toBe('1.6.21');
    expect(upstreamOf('1.6.18')).toBe('1.6.18');
  });

  it("without package.version: the archive's newest of the target release", () => {
    const listed = parseMadison(madison, 'memcached');
    expect(choosePackageVersion('1.6.18', latest, listed)).toMatchObject({ version: '1.6.18-1+deb12u1' });
  });

  it('with package.version: exactly that one, when the archive lists it', () => {
    const listed = parseMadison(madison, 'memcached');
    expect(choosePackageVersion('1.6.18', { ...latest, version: '1.6.18-1' }, listed)).toMatchObject({
      version: '1.6.18-1',
      archive: 'http://deb.debian.org/debian bookworm/main amd64 Packages',
    });
  });

  it('says why no version fits: not listed, another release, no such package', () => {
    const listed = parseMadison(madison, 'memcached');
    expect(choosePackageVersion('1.6.18', { ...latest, version: '1.6.18-2' }, listed)).toBe(
      "the host's apt cache does not list memcached 1.6.18-2 (it lists 1.6.18-1+deb12u1, 1.6.18-1) — correct target.package.version, or run apt-get update on the host",
    );
    expect(choosePackageVersion('1.6.18', { ...latest, version: '1.6.21-1' }, listed)).toBe(
      'target.package.version 1.6.21-1 is memcached 1.6.21, not target.version 1.6.18',
    );
    expect(choosePackageVersion('1.6.38', latest, listed)).toBe(
      "the host's archive has no memcached of memcached 1.6.38 (it lists 1.6.18-1+deb12u1, 1.6.18-1) — build it from target.source instead",
    );
    expect(choosePackageVersion('1.6.18', latest, [])).toMatch(
      /^the host's apt cache lists no package memcached/,
    );
  });

  it('names the libraries ldd could not find, and only those', () => {
    const ldd = [
      '\tlinux-vdso.so.1 (0x00007ffd)',
      '\tlibevent-2.1.so.7 => /lib/x86_64-linux-gnu/libevent-2.1.so.7 (0x00007f)',
      '\tlibsasl2.so.2 => not found',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)',
    ].join('\n');
    expect(missingLibraries(ldd)).toEqual(['libsasl2.so.2']);
    expect(missingLibraries('\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n')).toEqual([]);
  });
});

describe('build plan for target.package', () => {
  it('decides the package version from one read-only probe and says where the build comes from', async () => {
    const transport = new RecordingTransport({ run: [answers(/apt-cache madison/, madison)] });
    const f = taskContext({ target: target(latest), transport });
    const plan = await build.plan(f.ctx, oldHost);
    expect(plan.status).toBe('changed');
    if (plan.status !== 'changed') return;
    expect(plan.detail).toBe(
      'unpack 1.6.18 from the distro package memcached 1.6.18-1+deb12u1 (apt-get download, unpacked, no maintainer scripts) into /opt/memcached/1.6.18',
    );
    expect(plan.actions).toEqual([
      {
        kind: 'unpack',
        version: '1.6.18',
        text: 'unpack 1.6.18 from the distro package memcached 1.6.18-1+deb12u1 (apt-get download, unpacked, no maintainer scripts) from http://deb.debian.org/debian-security bookworm-security/main amd64 Packages into /opt/memcached/1.6.18',
      },
    ]);
    expect(plan.decision?.fromPackage).toEqual({
      name: 'memcached',
      version: '1.6.18-1+deb12u1',
      archive: 'http://deb.debian.org/debian-security bookworm-security/main amd64 Packages',
    });
    // Read-only: the probe and the transfer question, no compiler check, nothing downloaded.
    expect(transport.commands).toHaveLength(1);
    expect(transport.commands[0]).toMatch(/^sh -c .*apt-cache madison "\$1".* sh memcached$/s);
    expect(transport.uploads).toEqual([]);
    expect(f.runWrites()).toEqual([]);
  });

  it('a host without a compiler takes the package all the same: nothing is compiled for it', async () => {
    const transport = new RecordingTransport({ run: [answers(/apt-cache madison/, madison)] });
    const f = taskContext({ target: target(latest), transport });
    const noCompiler = {
      ...oldHost,
      platform: { ...oldHost.platform, missingBuildTools: ['compiler', 'make'] },
    };
    const plan = await build.plan(f.ctx, noCompiler);
    expect(plan.status).toBe('changed');
    if (plan.status !== 'changed') return;
    expect(plan.actions?.map((a) => a.kind)).toEqual(['unpack']);
    expect(transport.commands.some((c) => c.includes('event.h'))).toBe(false);
  });

  it('fails the host in plan when its archive does not hold the version: --check never plans what apply cannot do', async () => {
    const transport = new RecordingTransport({ run: [answers(/apt-cache madison/, madison)] });
    const f = taskContext({ target: target({ ...latest, version: '1.6.18-9' }), transport });
    const failed = await build.plan(f.ctx, oldHost).catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(TaskFailed);
    expect((failed as TaskFailed).detail).toContain("the host's apt cache does not list memcached 1.6.18-9");
  });

  it('fails an RPM host in plan, naming what is missing', async () => {
    const transport = new RecordingTransport({
      run: [answers(/apt-cache madison/, 'missing apt-get\nmissing apt-cache\nmissing dpkg-deb\nrpm\n')],
    });
    const f = taskContext({ target: target(latest), transport });
    const failed = await build.plan(f.ctx, oldHost).catch((error: unknown) => error);
    expect((failed as TaskFailed).detail).toBe(
      'cannot take memcached from the distro package here: missing apt-get, apt-cache, dpkg-deb (an RPM host: target.package takes Debian packages with apt-get download) — use target.source for this fleet',
    );
  });
});

describe('build apply for target.package', () => {
  const fromPackage = {
    name: 'memcached',
    version: '1.6.18-1',
    archive: 'http://deb.debian.org/debian bookworm/main amd64 Packages',
  };
  const decision = {
    role: { kind: 'compile', receivers: [], platform: null },
    prune: [],
    transfer: 'sftp',
    fromPackage,
  } as const;
  const plan = { status: 'changed', detail: '', facts: oldHost, decision } as const;

  it('downloads with apt-get, unpacks with dpkg-deb -x, checks ldd, then -V, the marker and the rename', async () => {
    const transport = new RecordingTransport({
      run: [
        answers(/dpkg-deb -f "\$1" Package Version/, 'Package: memcached\nVersion: 1.6.18-1\n208\t/x.deb\n'),
        answers(/ memplay-install /, 'installed\ncleaned\n'),
      ],
      otherwise: { code: 0 },
    });
    const f = taskContext({ target: target(latest), transport });
    const outcome = await build.apply(f.ctx, plan);
    expect(outcome.detail).toMatch(
      /^unpacked 1\.6\.18 from the distro package memcached 1\.6\.18-1 \(apt-get download, unpacked, no maintainer scripts\), 208 kB \.deb, every library found, in /,
    );
    expect(transport.commands.some((c) => /apt-get download -q memcached=1\.6\.18-1$/.test(c))).toBe(true);
    expect(
      transport.commands.some((c) =>
        /^dpkg-deb -x \/opt\/memcached\/\.memplay-build-1\.6\.18-[0-9a-f]+\/deb\/\*\.deb /.test(c),
      ),
    ).toBe(true);
    // Nothing that runs a maintainer script, or touches the installed package.
    expect(
      transport.commands.filter((c) => /dpkg -i|apt-get install|dpkg --(install|configure)|postinst/.test(c)),
    ).toEqual([]);
    const order = [
      /apt-get download/,
      /^dpkg-deb -x/,
      /^ldd /,
      // -V, the marker and the rename, in one command: the tree, then where it goes.
      / memplay-install \/opt\/memcached\/\.memplay-build-1\.6\.18-[0-9a-f]+\/root \/opt\/memcached\/1\.6\.18 1\.6\.18 /,
    ].map((step) => transport.commands.findIndex((c) => step.test(c)));
    expect(
      order.every((index, i) => index >= 0 && (i === 0 || index > (order[i - 1] as number))),
      transport.commands.join('\n'),
    ).toBe(true);
    // That command removed the staging folder: nothing runs after it.
    expect(transport.commands.at(-1)).toMatch(/ memplay-install /);
  });

  it('a library ldd cannot find fails the host before anything is moved into place, naming it and the Depends', async () => {
    const transport = new RecordingTransport({
      run: [
        answers(/dpkg-deb -f "\$1" Package Version/, 'Package: memcached\nVersion: 1.6.18-1\n208\t/x.deb\n'),
        answers(/^ldd /, '\tlibsasl2.so.2 => not found\n\tlibc.so.6 => /lib/libc.so.6 (0x1)\n'),
        answers(
          /Depends$/,
          'libc6 (>= 2.34), libevent-2.1-7 (>= 2.1.8-stable), libsasl2-2 (>= 2.1.28+dfsg)\n',
        ),
      ],
      otherwise: { code: 0 },
    });
    const f = taskContext({ target: target(latest), transport });
    const failed = await build.apply(f.ctx, plan).catch((error: unknown) => error);
    expect((failed as TaskFailed).detail).toBe(
      "memcached 1.6.18-1's memcached needs libsasl2.so.2, not on this host — install what the package depends on (libc6 (>= 2.34), libevent-2.1-7 (>= 2.1.8-stable), libsasl2-2 (>= 2.1.28+dfsg)) or use target.source",
    );
    expect(transport.commands.some((c) => c.includes('-V'))).toBe(false);
    expect(transport.commands.at(-1)).toMatch(/^rm -rf /);
  });

  it('a download that is not the planned package fails the host', async () => {
    const transport = new RecordingTransport({
      run: [
        answers(
          /dpkg-deb -f "\$1" Package Version/,
          'Package: memcached\nVersion: 1.6.18-1+deb12u1\n208\t/x.deb\n',
        ),
      ],
      otherwise: { code: 0 },
    });
    const f = taskContext({ target: target(latest), transport });
    const failed = await build.apply(f.ctx, plan).catch((error: unknown) => error);
    expect((failed as TaskFailed).detail).toMatch(
      /^apt-get download left memcached 1\.6\.18-1\+deb12u1 in .*, not memcached 1\.6\.18-1$/,
    );
    expect(transport.commands.some((c) => c.startsWith('dpkg-deb -x'))).toBe(false);
  });
});

describe('target.package in a playbook', () => {
  it('examples/package-target.yml resolves to the package, its version as written, and no tarball checksum', async () => {
    const playbook = await loadPlaybook('examples/package-target.yml');
    expect(playbook.target).toEqual({
      version: '1.6.18',
      source: { kind: 'package', name: 'memcached', version: '1.6.18-1+deb12u1' },
      sha256: '',
      configure: [],
    });
  });

  it("without package.version, the version is left to each host's archive", () => {
    const playbook = resolveText(
      'name: t\ntarget:\n  version: "1.6.18"\n  package: { name: memcached-tools }\nhosts:\n  a: { address: 10.0.0.1 }\n',
      '/fleet/playbook.yml',
    );
    expect(playbook.target.source).toEqual({ kind: 'package', name: 'memcached-tools', version: null });
  });
});

describe('the --check summary with target.package', () => {
  it('counts the unpacks as the builds, and leaves the field out of a summary without any', () => {
    const strategy = {
      serial: [{ kind: 'count', count: 1 }],
      maxFailPercentage: 0,
      pauseBetweenBatches: 0,
      confirmBetweenBatches: false,
    } as const;
    const unpack = {
      kind: 'unpack',
      version: '1.6.18',
      text: 'unpack 1.6.18 from the distro package',
    } as const;
    const summary = summarizePlans(
      [
        { host: 'h1', outcome: 'changed', actions: [unpack] },
        { host: 'h2', outcome: 'changed', actions: [unpack] },
      ],
      strategy,
    );
    expect(summary.unpack).toEqual([
      { host: 'h1', version: '1.6.18' },
      { host: 'h2', version: '1.6.18' },
    ]);
    expect(summary.compile).toEqual([]);
    expect(formatPlanSummary(summary)).toContain(
      '  builds: unpack 1.6.18 from the distro package on h1; unpack 1.6.18 from the distro package on h2',
    );
    const compiled = summarizePlans(
      [{ host: 'h1', outcome: 'changed', actions: [{ kind: 'compile', version: '1.6.38', text: 'build' }] }],
      strategy,
    );
    expect('unpack' in compiled).toBe(false);
  });
});
