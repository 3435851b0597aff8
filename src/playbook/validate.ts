import type { Diagnostic } from '../errors.js';
import { isRecord, mergeHostSettings, type RawRecord } from './merge.js';
import { schemaDiagnostics } from './schema-messages.js';
import { displayPath, type Path, type PlaybookSource } from './source.js';
import { taskListProblems } from './task-list.js';
import { textValueProblems } from './text-values.js';
import { closestName } from './words.js';

/**
 * All problems of a parsed playbook: the schema's and the semantic ones (which need
 * more than one value to see). The semantic checks look only at values of the right
 * shape, so one run reports every mistake, whatever the schema said.
 */
export function checkPlaybook(source: PlaybookSource): Diagnostic[] {
  const data = source.data();
  const schema = schemaDiagnostics(source, data);
  return [...schema, ...semanticDiagnostics(source, data), ...textValueProblems(source, data, schema)];
}

/** Sorted by position, each reported once. */
export function orderDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const unique = new Map(diagnostics.map((d) => [`${d.line}:${d.col}:${d.message}`, d]));
  return [...unique.values()].sort(
    (a, b) => a.line - b.line || a.col - b.col || a.message.localeCompare(b.message),
  );
}

function semanticDiagnostics(source: PlaybookSource, data: unknown): Diagnostic[] {
  if (!isRecord(data)) return [];
  const hosts = isRecord(data.hosts) ? data.hosts : {};
  return [
    ...groupProblems(source, data.groups, hosts),
    ...duplicateEndpoints(source, data.defaults, hosts),
    ...serviceProblems(source, data.defaults, hosts),
    ...taskListProblems(source, data.tasks),
  ];
}

function groupProblems(source: PlaybookSource, groups: unknown, hosts: RawRecord): Diagnostic[] {
  if (!isRecord(groups)) return [];
  const hostNames = Object.keys(hosts);
  const found: Diagnostic[] = [];
  for (const [group, members] of Object.entries(groups)) {
    if (group in hosts) {
      found.push(
        source.diagnostic(
          ['groups', group],
          `groups: group "${group}" has the same name as a host; rename one so --limit can tell them apart`,
          'key',
        ),
      );
    }
    if (!Array.isArray(members)) continue;
    for (const [i, member] of members.entries()) {
      if (typeof member !== 'string' || member in hosts) continue;
      const suggestion = closestName(member, hostNames);
      const path: Path = ['groups', group, i];
      found.push(
        source.diagnostic(
          path,
          `${displayPath(path)}: "${member}" is not a host of this playbook${
            suggestion ? ` — did you mean "${suggestion}"?` : `; the hosts are ${hostNames.join(', ')}`
          }`,
        ),
      );
    }
  }
  return found;
}

// Two entries for one memcached would upgrade it twice, possibly in the same batch.
function duplicateEndpoints(source: PlaybookSource, defaults: unknown, hosts: RawRecord): Diagnostic[] {
  const seen = new Map<string, string>();
  const found: Diagnostic[] = [];
  for (const [name, host] of Object.entries(hosts)) {
    if (!isRecord(host) || typeof host.address !== 'string') continue;
    const settings = mergeHostSettings(defaults, host);
    const port = isRecord(settings.memcached) ? (settings.memcached.port ?? 11211) : 11211;
    const endpoint = `${host.address}:${String(port)}`;
    const first = seen.get(endpoint);
    if (first === undefined) {
      seen.set(endpoint, name);
      continue;
    }
    found.push(
      source.diagnostic(
        ['hosts', name],
        `${displayPath(['hosts', name])}: same address and memcached port as ${first} (${endpoint}); ` +
          'each memcached may be listed once — fix the address or memcached.port',
        'key',
      ),
    );
  }
  return found;
}

const servicePath = ['memcached', 'service'] as const;

function serviceProblems(source: PlaybookSource, defaults: unknown, hosts: RawRecord): Diagnostic[] {
  const found: Diagnostic[] = [];
  // A unit missing from the defaults is reported once, naming the hosts left without one.
  const withoutUnit = new Map<string, { path: Path; hosts: string[] }>();
  for (const [name, host] of Object.entries(hosts)) {
    if (!isRecord(host)) continue;
    const settings = mergeHostSettings(defaults, host);
    const service = isRecord(settings.memcached) ? settings.memcached.service : undefined;
    if (!isRecord(service)) continue;
    // The layer a key of the merged service came from: the host's own, else the defaults.
    const origin = (key: string): Path =>
      hasPath(host, [...servicePath, key]) ? ['hosts', name, ...servicePath] : ['defaults', ...servicePath];

    if (service.manager === 'systemd') {
      if (service.unit === undefined) {
        const path = origin('manager');
        const entry = withoutUnit.get(displayPath(path)) ?? { path, hosts: [] };
        entry.hosts.push(name);
        withoutUnit.set(displayPath(path), entry);
      }
      if (service.pidfile !== undefined) {
        const path = origin('pidfile');
        found.push(
          source.diagnostic(
            [...path, 'pidfile'],
            `${displayPath(path)}: "pidfile" is only used with manager: pidfile; systemd tracks memcached's process itself — remove it`,
            'key',
          ),
        );
      }
    } else {
      for (const key of ['unit', 'drop_in'] as const) {
        if (service[key] === undefined) continue;
        const path = origin(key);
        found.push(
          source.diagnostic(
            [...path, key],
            `${displayPath(path)}: "${key}" is only used with manager: systemd — add manager: systemd or remove ${key}`,
            'key',
          ),
        );
      }
    }
  }
  for (const { path, hosts: names } of withoutUnit.values()) {
    const forWhom = path[0] === 'defaults' ? `; set it here or on ${names.join(', ')}` : '';
    found.push(
      source.diagnostic(
        [...path, 'manager'],
        `${displayPath(path)}: manager systemd needs "unit", the systemd unit that runs memcached (e.g. unit: memcached.service)${forWhom}`,
      ),
    );
  }
  return found;
}

function hasPath(value: unknown, path: readonly string[]): boolean {
  let node = value;
  for (const key of path) {
    if (!isRecord(node) || !(key in node)) return false;
    node = node[key];
  }
  return true;
}
