import { dirname, isAbsolute, join } from 'node:path';
import type { Diagnostic } from '../errors.js';
import { type Inventory, type InventoryHost, readInventory, type SettingOrigin } from './inventory.js';
import { deepMerge, isRecord, type RawRecord } from './merge.js';
import { localPath, type PlaybookDocument } from './resolve.js';
import type { Path, PlaybookSource } from './source.js';
import { textProblem } from './text-values.js';

// `hosts_from`: the playbook's hosts come from an Ansible inventory, under the playbook's
// own `hosts:` entries. A host of both is the inventory's settings with the playbook's
// entry over them, key by key; `defaults` stay under both.

/**
 * The inventory `hosts_from` names (none: undefined). A path that cannot be read is a
 * problem at the playbook's `hosts_from`; problems inside the file point into it.
 * `file` is the playbook's absolute path.
 */
export async function loadHostsFrom(
  source: PlaybookSource,
  file: string,
  homeDir: string,
): Promise<{ inventory?: Inventory; problems: Diagnostic[] }> {
  const data = source.data();
  const written = isRecord(data) ? data.hosts_from : undefined;
  // A value the schema or the text check refuses is reported there.
  if (typeof written !== 'string' || written === '' || /^~[^/]/.test(written) || textProblem(written)) {
    return { problems: [] };
  }
  const path = localPath(written, dirname(file), homeDir);
  // Named as the user would find it: from where the playbook was named.
  const shown = written.startsWith('~') || isAbsolute(written) ? path : join(dirname(source.file), written);
  const read = await readInventory(shown, path);
  if (read.kind === 'unreadable') {
    return {
      problems: [
        source.diagnostic(['hosts_from'], `hosts_from: cannot read the inventory ${shown}: ${read.reason}`),
      ],
    };
  }
  const problems = [...read.problems];
  const ownHosts = isRecord(data) && isRecord(data.hosts) ? Object.keys(data.hosts) : [];
  if (problems.length === 0 && read.inventory.hosts.length === 0 && ownHosts.length === 0) {
    problems.push(
      source.diagnostic(
        ['hosts_from'],
        `hosts_from: ${shown} lists no host; add hosts to it, or list them under hosts:`,
      ),
    );
  }
  return { inventory: read.inventory, problems };
}

/**
 * Every host as a `hosts:` entry: the inventory's first, in its order, each with the
 * playbook's entry for it merged over it; then the playbook's other hosts, in its order.
 */
export function combinedHosts(playbookHosts: unknown, inventory: Inventory | undefined): RawRecord {
  const own = isRecord(playbookHosts) ? playbookHosts : {};
  if (!inventory) return own;
  const hosts: RawRecord = {};
  for (const host of inventory.hosts) hosts[host.name] = deepMerge(host.settings, own[host.name]);
  for (const [name, entry] of Object.entries(own)) if (!(name in hosts)) hosts[name] = entry;
  return hosts;
}

/** The playbook with the inventory's hosts and groups in its `hosts:` and `groups:`. */
export function withInventory(
  document: PlaybookDocument,
  inventory: Inventory | undefined,
): PlaybookDocument {
  if (!inventory) return document;
  const groups: Record<string, readonly string[]> = {};
  for (const [name, group] of inventory.groups) groups[name] = group.members;
  return {
    ...document,
    hosts: combinedHosts(document.hosts, inventory) as unknown as PlaybookDocument['hosts'],
    groups: { ...groups, ...document.groups },
  };
}

const hostIndexes = new WeakMap<Inventory, Map<string, InventoryHost>>();

/** The inventory's entry for a host, if it lists it. */
export function inventoryHost(inventory: Inventory | undefined, name: string): InventoryHost | undefined {
  if (!inventory) return undefined;
  let index = hostIndexes.get(inventory);
  if (!index) {
    index = new Map(inventory.hosts.map((host) => [host.name, host]));
    hostIndexes.set(inventory, index);
  }
  return index.get(name);
}

/** Where a host's setting was written, in the order that decides it: see settingPlace. */
export type SettingPlace =
  | { readonly kind: 'playbook'; readonly path: Path }
  | { readonly kind: 'inventory'; readonly origin: SettingOrigin };

/**
 * Where the host's setting at `path` (`['ssh', 'identity_file']`) comes from: its own
 * entry in the playbook, else the inventory, else the playbook's `defaults`; undefined
 * when none sets it (memplay's default applies).
 */
export function settingPlace(
  source: PlaybookSource,
  inventory: Inventory | undefined,
  host: string,
  path: readonly string[],
): SettingPlace | undefined {
  const own = ['hosts', host, ...path];
  if (source.nodeAt(own) !== undefined) return { kind: 'playbook', path: own };
  const origin = inventoryHost(inventory, host)?.origins.get(path.join('.'));
  if (origin) return { kind: 'inventory', origin };
  const shared = ['defaults', ...path];
  return source.nodeAt(shared) !== undefined ? { kind: 'playbook', path: shared } : undefined;
}
