import type { Diagnostic } from '../errors.js';
import { isRecord, type RawRecord } from './merge.js';
import { displayPath, type Path, type PlaybookSource } from './source.js';

/**
 * Folders a prefix may not be: memplay removes old builds under its prefix, so a
 * prefix of `/` or a system folder would put the system's own folders within reach
 * of a prune (`prefix: /` with `keep_builds: 0` once planned `rm -rf -- usr`).
 */
const systemFolders = new Set([
  '/',
  '/bin',
  '/boot',
  '/dev',
  '/etc',
  '/home',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/media',
  '/mnt',
  '/opt',
  '/proc',
  '/root',
  '/run',
  '/sbin',
  '/srv',
  '/sys',
  '/tmp',
  '/usr',
  '/usr/bin',
  '/usr/lib',
  '/usr/lib64',
  '/usr/libexec',
  '/usr/local',
  '/usr/local/bin',
  '/usr/local/lib',
  '/usr/local/sbin',
  '/usr/sbin',
  '/usr/share',
  '/usr/src',
  '/var',
  '/var/cache',
  '/var/lib',
  '/var/log',
  '/var/tmp',
]);

/** `/usr//local/` and `/usr/local` name one folder. */
function normalFolder(path: string): string {
  const collapsed = path.replace(/\/+/g, '/').replace(/\/\.(?=\/|$)/g, '');
  return collapsed.length > 1 ? collapsed.replace(/\/$/, '') : collapsed;
}

/** Whether memplay may build under `prefix`: not `/` and not a system folder. */
export function isSystemFolder(prefix: string): boolean {
  return systemFolders.has(normalFolder(prefix));
}

/**
 * The most `memcached.args` may hold, all arguments together. memplay starts memcached
 * with one `sh -c` string, and Linux caps one argument at 128 KiB (MAX_ARG_STRLEN); this
 * bound leaves room for the quoting, the build's path and the service wrapper, so a
 * command line that validates always fits on the host — never a failed start after the stop.
 */
export const argsMaxBytes = 32 * 1024;

/** Where each memcached settings record sits: defaults, each host, each host's instances (whose keys sit at the top). */
function settingsRecords(defaults: unknown, hosts: RawRecord): [Path, RawRecord][] {
  const memcachedOf = (at: Path, layer: unknown): [Path, RawRecord][] =>
    isRecord(layer) && isRecord(layer.memcached) ? [[[...at, 'memcached'], layer.memcached]] : [];
  return [
    ...memcachedOf(['defaults'], defaults),
    ...Object.entries(hosts).flatMap(([name, host]): [Path, RawRecord][] => [
      ...memcachedOf(['hosts', name], host),
      ...(isRecord(host) && Array.isArray(host.instances)
        ? host.instances.flatMap((instance, i): [Path, RawRecord][] =>
            isRecord(instance) ? [[['hosts', name, 'instances', i], instance]] : [],
          )
        : []),
    ]),
  ];
}

/** Every place a prefix or args list is set (defaults, each host, each instance): one problem each. */
export function hostPathProblems(source: PlaybookSource, defaults: unknown, hosts: RawRecord): Diagnostic[] {
  const found: Diagnostic[] = [];
  for (const [at, memcached] of settingsRecords(defaults, hosts)) {
    const prefix = memcached.prefix;
    if (typeof prefix === 'string' && prefix.startsWith('/') && isSystemFolder(prefix)) {
      const path: Path = [...at, 'prefix'];
      found.push(
        source.diagnostic(
          path,
          `${displayPath(path)}: "${prefix}" is ${prefix === '/' ? 'the root folder' : 'a system folder'}; ` +
            'memplay removes old builds under its prefix, so it needs a folder of its own — e.g. /opt/memcached',
        ),
      );
    }
    const args = memcached.args;
    if (Array.isArray(args) && args.every((arg) => typeof arg === 'string')) {
      const bytes = args.reduce((sum: number, arg: string) => sum + Buffer.byteLength(arg) + 1, 0);
      if (bytes > argsMaxBytes) {
        const path: Path = [...at, 'args'];
        found.push(
          source.diagnostic(
            path,
            `${displayPath(path)}: ${args.length} arguments of ${bytes} bytes in all; at most ${argsMaxBytes} bytes ` +
              'fit the command line memcached is started with — move settings to fewer, shorter arguments',
          ),
        );
      }
    }
  }
  return found;
}
