import { randomBytes } from 'node:crypto';
import type { TargetPackage } from '../playbook/types.js';
import { sh } from '../transport/quote.js';
import { formatDuration } from '../units.js';
import { cleanupStale, fail, runStep, stagingPrefix } from './build-steps.js';
import type { TaskContext } from './task.js';
import { installTree } from './tree-install.js';

// target.package: the build is the distribution's own binary. Each host fetches the
// package from its own archive with `apt-get download` (as the SSH user: apt checks
// the file against the archive's signed index, which is what the operator trusts),
// unpacks it with `dpkg-deb -x` (which never runs a maintainer script, so nothing is
// restarted and the installed package, if any, is untouched), and takes
// usr/bin/memcached as the tree's bin/memcached. No build is shared between hosts:
// the download is a few hundred kB, and each host's apt vouches for its own copy.

/** What the plan decided a package target's build is: the package, in the host's archive. */
export interface PackageUnpack {
  readonly name: string;
  /** The distribution's version, as apt names it (`1.6.18-1+deb12u1`). */
  readonly version: string;
  /** Where the host's apt would take it from, for people (`http://deb.debian.org/debian bookworm/main amd64 Packages`). */
  readonly archive: string;
}

/** One line of `apt-cache madison`: a version the archive holds, and where. */
export interface ArchiveVersion {
  readonly version: string;
  readonly archive: string;
}

/** `apt-cache madison` output: package versions with their archive, source packages left out. */
export function parseMadison(output: string, name: string): ArchiveVersion[] {
  const versions: ArchiveVersion[] = [];
  for (const line of output.split('\n')) {
    const [pkg, version, archive] = line.split('|').map((field) => field.trim());
    if (pkg !== name || !version || !archive?.endsWith(' Packages')) continue;
    versions.push({ version, archive });
  }
  return versions;
}

/** The upstream release of a Debian version: `1:1.6.18+dfsg-1+deb12u1` → `1.6.18`. */
export function upstreamOf(packageVersion: string): string {
  const withoutEpoch = packageVersion.replace(/^\d+:/, '');
  const hyphen = withoutEpoch.lastIndexOf('-');
  const upstream = hyphen > 0 ? withoutEpoch.slice(0, hyphen) : withoutEpoch;
  return upstream.replace(/[+~].*$/, '');
}

/**
 * The package version to take, from what the host's archive lists (madison's order,
 * newest first): the one the playbook names, else the newest whose upstream release is
 * the target. A string says why none fits, in words for the host's failure.
 */
export function choosePackageVersion(
  targetVersion: string,
  wanted: TargetPackage,
  listed: readonly ArchiveVersion[],
): ArchiveVersion | string {
  const versions = listed.map((v) => v.version).join(', ');
  if (listed.length === 0) {
    return `the host's apt cache lists no package ${wanted.name} — check target.package.name, or run apt-get update on the host`;
  }
  if (wanted.version !== null) {
    if (upstreamOf(wanted.version) !== targetVersion) {
      return `target.package.version ${wanted.version} is memcached ${upstreamOf(wanted.version)}, not target.version ${targetVersion}`;
    }
    const found = listed.find((v) => v.version === wanted.version);
    return (
      found ??
      `the host's apt cache does not list ${wanted.name} ${wanted.version} (it lists ${versions}) — correct target.package.version, or run apt-get update on the host`
    );
  }
  return (
    listed.find((v) => upstreamOf(v.version) === targetVersion) ??
    `the host's archive has no ${wanted.name} of memcached ${targetVersion} (it lists ${versions}) — build it from target.source instead`
  );
}

// One read-only round trip: the tools the unpack needs, and what the archive lists.
const probeScript = `
for tool in apt-get apt-cache dpkg-deb ldd; do
  command -v "$tool" >/dev/null 2>&1 || printf 'missing %s\\n' "$tool"
done
command -v rpm >/dev/null 2>&1 && printf 'rpm\\n'
if command -v apt-cache >/dev/null 2>&1; then apt-cache madison "$1" 2>/dev/null; fi
true
`;

/** Plan: which package version this host would unpack; fails the host when its archive cannot give it. */
export async function planPackageUnpack(ctx: TaskContext, wanted: TargetPackage): Promise<PackageUnpack> {
  const probe = await ctx.transport.run(sh`sh -c ${probeScript} sh ${wanted.name}`);
  const lines = probe.stdout.split('\n');
  const missing = lines.filter((line) => line.startsWith('missing ')).map((line) => line.slice(8));
  if (missing.length > 0) {
    const rpmHost = lines.includes('rpm') && missing.includes('apt-get');
    fail(
      ctx,
      `cannot take memcached from the distro package here: missing ${missing.join(', ')}${
        rpmHost ? ' (an RPM host: target.package takes Debian packages with apt-get download)' : ''
      } — use target.source for this fleet`,
    );
  }
  const chosen = choosePackageVersion(ctx.target.version, wanted, parseMadison(probe.stdout, wanted.name));
  if (typeof chosen === 'string') fail(ctx, chosen);
  return { name: wanted.name, version: chosen.version, archive: chosen.archive };
}

/** How the plan says it, in --check and the task's line. */
export function describeUnpack(unpack: PackageUnpack): string {
  return `from the distro package ${unpack.name} ${unpack.version} (apt-get download, unpacked, no maintainer scripts)`;
}

/** The libraries `ldd` could not find: `libsasl2.so.2 => not found` → `libsasl2.so.2`. */
export function missingLibraries(lddOutput: string): string[] {
  return lddOutput
    .split('\n')
    .map((line) => /^\s*(\S+)\s+=>\s+not found/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);
}

/**
 * Apply: download, unpack, check the binary's libraries, then the same check and
 * rename every build ends with. Returns the task's detail.
 */
export async function unpackPackage(ctx: TaskContext, unpack: PackageUnpack): Promise<string> {
  const started = Date.now();
  const { version } = ctx.target;
  const prefix = ctx.host.memcached.prefix;
  const staging = `${prefix}/${stagingPrefix}${version}-${randomBytes(4).toString('hex')}`;
  const debs = `${staging}/deb`;
  const tree = `${staging}/root`;
  const binary = `${tree}/bin/memcached`;
  let stagingLeft = true;
  try {
    // Staging directories of builds that crashed or were interrupted earlier go first.
    await runStep(
      ctx,
      'create staging directory',
      sh`${cleanupStale(prefix, version)}; mkdir -p ${debs} ${`${tree}/bin`}`,
    );
    await runStep(
      ctx,
      `apt-get download ${unpack.name} ${unpack.version}`,
      sh`cd ${debs} && apt-get download -q ${`${unpack.name}=${unpack.version}`}`,
    );
    // What was fetched is what the plan named: apt resolves `name=version` itself,
    // but the file's own control fields are the word that counts.
    const fields = await ctx.transport.run(
      sh`set -- ${debs}/*.deb && [ "$#" -eq 1 ] && dpkg-deb -f "$1" Package Version && du -k "$1"`,
    );
    const [name, packageVersion, size] = fields.stdout.trim().split('\n');
    const got = `${name?.replace(/^Package: /, '')} ${packageVersion?.replace(/^Version: /, '')}`;
    if (fields.code !== 0 || got !== `${unpack.name} ${unpack.version}`) {
      fail(
        ctx,
        `apt-get download left ${fields.code === 0 ? got : 'no single .deb'} in ${debs}, not ${unpack.name} ${unpack.version}`,
      );
    }
    await runStep(
      ctx,
      'unpack with dpkg-deb -x (no maintainer scripts)',
      sh`dpkg-deb -x ${debs}/*.deb ${`${staging}/unpacked`}`,
    );
    await runStep(
      ctx,
      'take usr/bin/memcached',
      sh`test -x ${`${staging}/unpacked/usr/bin/memcached`} && mv ${`${staging}/unpacked/usr/bin/memcached`} ${binary}`,
    );
    // ldd may run the binary's own loader: acceptable for a file apt verified against the signed archive.
    ctx.progress('check its shared libraries with ldd');
    const ldd = await ctx.transport.run(sh`ldd ${binary}`);
    const absent = missingLibraries(ldd.stdout);
    if (absent.length > 0) {
      const depends = await ctx.transport.run(sh`dpkg-deb -f ${debs}/*.deb Depends`);
      fail(
        ctx,
        `${unpack.name} ${unpack.version}'s memcached needs ${absent.join(', ')}, not on this host — install what the package depends on (${depends.stdout.trim() || 'see apt-cache show'}) or use target.source`,
      );
    }
    if (ldd.code !== 0 && !/not a dynamic executable/.test(`${ldd.stdout}${ldd.stderr}`)) {
      fail(ctx, `ldd ${binary} failed (exit ${ldd.code}): ${`${ldd.stderr}${ldd.stdout}`.trim()}`);
    }
    stagingLeft = !(await installTree(ctx, { tree, staging })).stagingRemoved;
    const kb = Number(size?.split(/\s/)[0]);
    return `unpacked ${version} ${describeUnpack(unpack)}${Number.isFinite(kb) ? `, ${kb} kB .deb` : ''}, every library found, in ${formatDuration(Date.now() - started)}`;
  } finally {
    if (stagingLeft) await ctx.transport.run(sh`rm -rf ${staging}`);
  }
}
