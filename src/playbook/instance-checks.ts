import { posix } from 'node:path';
import type { Diagnostic } from '../errors.js';
import { safePathPart } from '../memcached/backup-layout.js';
import { memcachedDefaults, serviceDefaults } from './document.generated.js';
import { isRecord, mergeHostSettings, type RawRecord } from './merge.js';
import { displayPath, type Path, type PlaybookSource } from './source.js';

// The checks `hosts.<name>.instances` needs beyond the schema: every instance of a
// host must be told apart — by its port, its name in reports and --limit, and the
// pidfile or unit it is stopped and started through — or two of them would be
// upgraded as one, or one swap would stop the other's memcached.

/** An instance's name in reports and `--limit` (resolve.ts's instanceName, on raw data). */
export function instanceTargetName(host: string, instance: RawRecord): string {
  return typeof instance.name === 'string' ? instance.name : `${host}:${String(instance.port)}`;
}

/** The host's settings an instance runs with, before `defaults` (resolve.ts's instanceSettings, on raw data). */
function instanceEntry(host: RawRecord, instance: RawRecord): RawRecord {
  const { instances: _, ...entry } = host;
  const memcached: RawRecord = {};
  for (const key of ['port', 'args', 'service', 'auth']) {
    if (instance[key] !== undefined) memcached[key] = instance[key];
  }
  return mergeHostSettings(entry, { memcached });
}

export interface ServiceEntry {
  /** The run target's name. */
  readonly name: string;
  /** Its settings before `defaults`. */
  readonly settings: RawRecord;
  /** For an instance: where it is written, and its host's entry. */
  readonly instancePath?: {
    readonly path: Path;
    readonly instance: RawRecord;
    readonly host: RawRecord;
    readonly hostName: string;
  };
}

/** Every run target the hosts make: a host, or each of its instances. */
export function serviceEntries(hosts: RawRecord): ServiceEntry[] {
  return Object.entries(hosts).flatMap(([hostName, host]): ServiceEntry[] => {
    if (!isRecord(host)) return [];
    if (!Array.isArray(host.instances)) return [{ name: hostName, settings: host }];
    return host.instances.flatMap((instance, i): ServiceEntry[] =>
      isRecord(instance)
        ? [
            {
              name: instanceTargetName(hostName, instance),
              settings: instanceEntry(host, instance),
              instancePath: { path: ['hosts', hostName, 'instances', i], instance, host, hostName },
            },
          ]
        : [],
    );
  });
}

export function instanceProblems(
  source: PlaybookSource,
  defaults: unknown,
  hosts: RawRecord,
  groups: unknown,
): Diagnostic[] {
  const found: Diagnostic[] = [];
  const hostNames = new Set(Object.keys(hosts));
  const groupNames = new Set(isRecord(groups) ? Object.keys(groups) : []);
  // Every target's name, first writer first: a host that runs one memcached, then instances.
  // Keyed by backup folder (backup.dir/<name>, `:` written `_`): two names one folder apart clash too.
  const targets = new Map<string, { name: string; label: string }>();
  for (const [name, host] of Object.entries(hosts)) {
    if (!isRecord(host) || !Array.isArray(host.instances)) {
      targets.set(safePathPart(name), { name, label: `host ${name}` });
    }
  }
  for (const [hostName, host] of Object.entries(hosts)) {
    if (!isRecord(host) || !Array.isArray(host.instances)) continue;
    const base: Path = ['hosts', hostName];
    if (isRecord(host.memcached) && host.memcached.port !== undefined) {
      found.push(
        source.diagnostic(
          [...base, 'memcached', 'port'],
          `${displayPath([...base, 'memcached'])}: "port" is set, and ${hostName} lists instances, each with its own port — remove memcached.port, or list that port as an instance`,
          'key',
        ),
      );
    }
    const ports = new Map<number, number>();
    const services = new Map<string, number>();
    for (const [i, instance] of host.instances.entries()) {
      if (!isRecord(instance)) continue;
      const at: Path = [...base, 'instances', i];
      if (typeof instance.port === 'number') {
        const first = ports.get(instance.port);
        if (first === undefined) ports.set(instance.port, i);
        else {
          // Its name and its default pidfile repeat the port: the port is the one mistake.
          found.push(
            source.diagnostic(
              [...at, 'port'],
              `${displayPath([...at, 'port'])}: port ${instance.port} is also the port of ${displayPath([...base, 'instances', first])}; each instance of ${hostName} needs its own port`,
            ),
          );
          continue;
        }
      }
      const name = instanceTargetName(hostName, instance);
      const named: Path = typeof instance.name === 'string' ? [...at, 'name'] : [...at, 'port'];
      const folder = safePathPart(name);
      const taken = targets.get(folder);
      const clash =
        taken?.name === name
          ? taken.label
          : hostNames.has(name)
            ? `host ${name}`
            : groupNames.has(name)
              ? `group ${name}`
              : undefined;
      if (typeof instance.port !== 'number') continue;
      if (clash !== undefined) {
        found.push(
          source.diagnostic(
            named,
            `${displayPath(at)}: its name "${name}" is already the name of ${clash}; give it another name (instances: - name: …) so reports and --limit can tell them apart`,
          ),
        );
        continue;
      }
      if (taken !== undefined) {
        found.push(
          source.diagnostic(
            named,
            `${displayPath(at)}: its backups would share the folder backup.dir/${folder} with ${taken.label}; give it another name (instances: - name: …)`,
          ),
        );
        continue;
      }
      targets.set(folder, { name, label: `instance ${displayPath(at)}` });
      const service = serviceKey(defaults, instanceEntry(host, instance));
      if (service === undefined) continue;
      const first = services.get(service);
      if (first === undefined) {
        services.set(service, i);
        continue;
      }
      found.push(
        source.diagnostic(
          at,
          `${displayPath(at)}: it would be stopped and started through the same ${service} as ${displayPath([...base, 'instances', first])}; give each instance of ${hostName} its own service.pidfile or service.unit`,
          'key',
        ),
      );
    }
  }
  return found;
}

/** `pidfile /path` or `unit name`: what an instance is stopped and started through. */
function serviceKey(defaults: unknown, entry: RawRecord): string | undefined {
  const settings = mergeHostSettings(defaults, entry);
  const memcached = isRecord(settings.memcached) ? settings.memcached : {};
  const service = isRecord(memcached.service) ? memcached.service : {};
  if ((service.manager ?? serviceDefaults.manager) === 'systemd') {
    return typeof service.unit === 'string' ? `unit ${service.unit}` : undefined;
  }
  if (typeof service.pidfile === 'string') return `pidfile ${service.pidfile}`;
  const prefix = typeof memcached.prefix === 'string' ? memcached.prefix : memcachedDefaults.prefix;
  return typeof memcached.port === 'number'
    ? `pidfile ${posix.join(prefix, `memcached-${memcached.port}.pid`)}`
    : undefined;
}
