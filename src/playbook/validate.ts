import type { Diagnostic } from '../errors.js';
import { portProblem } from '../transport/ssh-config.js';
import { memcachedDefaults } from './document.generated.js';
import { hostPathProblems } from './host-paths.js';
import { combinedHosts, inventoryHost } from './hosts-from.js';
import { instanceProblems, instanceTargetName, serviceEntries } from './instance-checks.js';
import type { Inventory } from './inventory.js';
import { isRecord, mergeHostSettings, type RawRecord } from './merge.js';
import { schemaDiagnostics } from './schema-messages.js';
import { displayPath, type Path, type PlaybookSource } from './source.js';
import { parseJump } from './ssh-settings.js';
import { taskListProblems } from './task-list.js';
import { textValueProblems } from './text-values.js';
import { closestName } from './words.js';

/**
 * All problems of a parsed playbook: the schema's and the semantic ones (which need
 * more than one value to see). The semantic checks look only at values of the right
 * shape, so one run reports every mistake, whatever the schema said. `inventory`: the
 * hosts_from inventory, read, whose hosts and groups the checks count with the playbook's.
 */
export function checkPlaybook(source: PlaybookSource, inventory?: Inventory): Diagnostic[] {
  const data = source.data();
  const schema = schemaDiagnostics(source, data);
  return [
    ...schema,
    ...semanticDiagnostics(source, data, inventory),
    ...textValueProblems(source, data, schema),
  ];
}

/** Sorted by file (in the order they first appear) and position, each reported once. */
export function orderDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const unique = new Map(diagnostics.map((d) => [`${d.file}:${d.line}:${d.col}:${d.message}`, d]));
  const files = [...new Set(diagnostics.map((d) => d.file))];
  return [...unique.values()].sort(
    (a, b) =>
      files.indexOf(a.file) - files.indexOf(b.file) ||
      a.line - b.line ||
      a.col - b.col ||
      a.message.localeCompare(b.message),
  );
}

function semanticDiagnostics(
  source: PlaybookSource,
  data: unknown,
  inventory: Inventory | undefined,
): Diagnostic[] {
  if (!isRecord(data)) return [];
  const hosts = combinedHosts(data.hosts, inventory);
  return [
    ...groupProblems(source, data.groups, hosts, inventory),
    ...inventoryProblems(source, data, inventory),
    ...duplicateEndpoints(source, data.defaults, hosts, inventory),
    ...serviceProblems(source, data.defaults, hosts),
    ...hostPathProblems(source, data.defaults, isRecord(data.hosts) ? data.hosts : {}),
    ...instanceProblems(source, data.defaults, hosts, data.groups),
    ...taskListProblems(source, data.tasks),
    ...jumpPortProblems(source, data),
    ...buildSourceProblems(source, data.target, hosts),
    ...tlsHandoverProblems(source, data, hosts),
  ];
}

// A handover talks to the new build on a side port, which memplay reaches in plain
// TCP only: with memcached.tls that would be a connection memplay refuses to make.
function tlsHandoverProblems(source: PlaybookSource, data: RawRecord, hosts: RawRecord): Diagnostic[] {
  if (!isRecord(data.swap) || data.swap.mode !== 'handover') return [];
  const withTls = Object.entries(hosts)
    .filter(
      ([, host]) => isRecord(host) && hasPath(mergeHostSettings(data.defaults, host), ['memcached', 'tls']),
    )
    .map(([name]) => name);
  if (withTls.length === 0) return [];
  return [
    source.diagnostic(
      ['swap', 'mode'],
      `swap.mode: handover cannot carry memcached with TLS (memcached.tls on ${withTls.join(', ')}): ` +
        'use swap.mode: auto, warm or cold',
    ),
  ];
}

// The schema's pattern for ssh.jump takes any 1 to 5 digits as a port; 0 or 99999 is
// caught here, with the same bounds as ssh.port (and as a ProxyJump from the ssh config).
function jumpPortProblems(source: PlaybookSource, data: RawRecord): Diagnostic[] {
  const places: Path[] = [['defaults', 'ssh', 'jump']];
  if (isRecord(data.hosts))
    for (const name of Object.keys(data.hosts)) places.push(['hosts', name, 'ssh', 'jump']);
  const found: Diagnostic[] = [];
  for (const path of places) {
    const spec = valueAt(data, path);
    if (typeof spec !== 'string' || spec === 'none') continue;
    for (const hop of spec.split(',')) {
      const { port } = parseJump(hop.trim());
      const why = port === undefined ? undefined : portProblem(port);
      if (why !== undefined) {
        found.push(source.diagnostic(path, `${displayPath(path)}: port ${port} of "${hop.trim()}" ${why}`));
      }
    }
  }
  return found;
}

function valueAt(data: unknown, path: Path): unknown {
  let node = data;
  for (const key of path) node = isRecord(node) ? node[String(key)] : undefined;
  return node;
}

// With hosts_from, a playbook entry needs an address only for a host the inventory does
// not list, and inventory groups share the names of the playbook's hosts and groups.
function inventoryProblems(
  source: PlaybookSource,
  data: RawRecord,
  inventory: Inventory | undefined,
): Diagnostic[] {
  if (!inventory) return [];
  const found: Diagnostic[] = [];
  const own = isRecord(data.hosts) ? data.hosts : {};
  for (const [name, entry] of Object.entries(own)) {
    if (inventory.groups.has(name)) {
      const group = inventory.groups.get(name);
      found.push(
        source.diagnostic(
          ['hosts', name],
          `hosts: host "${name}" has the name of a group of ${inventory.file} (line ${group?.at.line}); ` +
            'rename one so --limit can tell them apart',
          'key',
        ),
      );
    }
    if (!isRecord(entry) || 'address' in entry || inventoryHost(inventory, name)) continue;
    found.push(
      source.diagnostic(
        ['hosts', name],
        `${displayPath(['hosts', name])}: missing required key "address" (the host name or IP address to connect to); ` +
          `${name} is not a host of ${inventory.file}`,
        'key',
      ),
    );
  }
  return found;
}

function groupProblems(
  source: PlaybookSource,
  groups: unknown,
  hosts: RawRecord,
  inventory: Inventory | undefined,
): Diagnostic[] {
  if (!isRecord(groups)) return [];
  const hostNames = Object.keys(hosts);
  const found: Diagnostic[] = [];
  for (const [group, members] of Object.entries(groups)) {
    const shared = inventory?.groups.get(group);
    if (inventory && shared) {
      found.push(
        source.diagnostic(
          ['groups', group],
          `groups: group "${group}" is also a group of ${inventory.file} (line ${shared.at.line}); ` +
            'rename this one, or list its hosts in the inventory',
          'key',
        ),
      );
    }
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
            inventory ? ` or of ${inventory.file}` : ''
          }${suggestion ? ` — did you mean "${suggestion}"?` : `; the hosts are ${hostNames.join(', ')}`}`,
        ),
      );
    }
  }
  return found;
}

// Two entries for one memcached would upgrade it twice, possibly in the same batch.
function duplicateEndpoints(
  source: PlaybookSource,
  defaults: unknown,
  hosts: RawRecord,
  inventory: Inventory | undefined,
): Diagnostic[] {
  const seen = new Map<string, string>();
  const found: Diagnostic[] = [];
  for (const [name, host, port, path] of endpointsOf(defaults, hosts)) {
    const endpoint = `${host.address}:${String(port)}`;
    const first = seen.get(endpoint);
    if (first === undefined) {
      seen.set(endpoint, name);
      continue;
    }
    const listed = inventoryHost(inventory, name);
    if (listed && inventory && source.nodeAt(['hosts', name]) === undefined) {
      found.push({
        file: inventory.file,
        ...listed.at,
        message:
          `${name}: same address and memcached port as ${first} (${endpoint}); ` +
          'each memcached may be listed once — fix ansible_host or memcached_port, or remove one of them',
      });
      continue;
    }
    found.push(
      source.diagnostic(
        path,
        `${displayPath(path)}: same address and memcached port as ${first} (${endpoint}); ` +
          'each memcached may be listed once — fix the address or memcached.port',
        'key',
      ),
    );
  }
  return found;
}

// target.build_on names the controller or a host of the playbook; build_on and
// prebuilt are two answers to one question, so one of them is a mistake.
function buildSourceProblems(source: PlaybookSource, target: unknown, hosts: RawRecord): Diagnostic[] {
  if (!isRecord(target)) return [];
  const found: Diagnostic[] = [];
  const buildOn = target.build_on;
  if (typeof buildOn === 'string' && buildOn !== 'controller' && !(buildOn in hosts)) {
    const suggestion = closestName(buildOn, [...Object.keys(hosts), 'controller']);
    found.push(
      source.diagnostic(
        ['target', 'build_on'],
        `target.build_on: "${buildOn}" is not a host of this playbook${
          suggestion ? ` — did you mean "${suggestion}"?` : ''
        }; give controller, the name of a host in hosts, or { address, ssh } for a build host outside the fleet`,
      ),
    );
  }
  if (buildOn !== undefined && target.prebuilt !== undefined) {
    found.push(
      source.diagnostic(
        ['target', 'prebuilt'],
        'target.prebuilt: give either build_on (compile elsewhere) or prebuilt (ship this tree), not both',
        'key',
      ),
    );
  }
  // The distro's package is the build itself: nothing is compiled or shipped for it.
  for (const key of ['build_on', 'prebuilt'] as const) {
    if (target.package === undefined || target[key] === undefined) continue;
    found.push(
      source.diagnostic(
        ['target', key],
        `target.${key}: not with target.package, whose build is the distro's own binary, unpacked on each host — give one of them`,
        'key',
      ),
    );
  }
  return found;
}

/**
 * Each memcached the hosts list, with where it is written: a host's own port, or each
 * port its `instances` list (a port repeated within one host is instance-checks.ts's).
 */
function endpointsOf(defaults: unknown, hosts: RawRecord): [string, RawRecord, unknown, Path][] {
  return Object.entries(hosts).flatMap(([name, host]): [string, RawRecord, unknown, Path][] => {
    if (!isRecord(host) || typeof host.address !== 'string') return [];
    if (Array.isArray(host.instances)) {
      const ports = new Set<unknown>();
      return host.instances.flatMap((instance, i): [string, RawRecord, unknown, Path][] => {
        if (!isRecord(instance) || typeof instance.port !== 'number' || ports.has(instance.port)) return [];
        ports.add(instance.port);
        return [[instanceTargetName(name, instance), host, instance.port, ['hosts', name, 'instances', i]]];
      });
    }
    const settings = mergeHostSettings(defaults, host);
    const port = isRecord(settings.memcached)
      ? (settings.memcached.port ?? memcachedDefaults.port)
      : memcachedDefaults.port;
    return [[name, host, port, ['hosts', name]]];
  });
}

const servicePath = ['memcached', 'service'] as const;

function serviceProblems(source: PlaybookSource, defaults: unknown, hosts: RawRecord): Diagnostic[] {
  const found: Diagnostic[] = [];
  // A unit missing from the defaults is reported once, naming the hosts left without one.
  const withoutUnit = new Map<string, { path: Path; hosts: string[] }>();
  for (const { name, settings: entry, instancePath } of serviceEntries(hosts)) {
    const host = entry;
    const settings = mergeHostSettings(defaults, host);
    const service = isRecord(settings.memcached) ? settings.memcached.service : undefined;
    if (!isRecord(service)) continue;
    // The layer a key of the merged service came from: the instance's, the host's own, else the defaults.
    const origin = (key: string): Path =>
      instancePath && hasPath(instancePath.instance, ['service', key])
        ? [...instancePath.path, 'service']
        : hasPath(instancePath?.host ?? host, [...servicePath, key])
          ? ['hosts', instancePath?.hostName ?? name, ...servicePath]
          : ['defaults', ...servicePath];

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
