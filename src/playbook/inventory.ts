import { stat } from 'node:fs/promises';
import { dirname, extname } from 'node:path';
import type { Diagnostic } from '../errors.js';
import { expandHostPattern } from './host-ranges.js';
import { parseIniInventory } from './inventory-ini.js';
import type { InventoryTree, InventoryVariable, Spot } from './inventory-tree.js';
import { inventoryVariables, readableVariables, setAt } from './inventory-variables.js';
import { parseYamlInventory } from './inventory-yaml.js';
import { notUtf8Problem } from './load.js';
import type { RawRecord } from './merge.js';
import { readTextFile, UnreadableFile } from './read-text-file.js';
import { playbookSchema } from './schema.js';
import { closestName } from './words.js';

// An Ansible inventory (`hosts_from`) as memplay hosts: each host's variables merged
// as Ansible merges them — `all`, then its groups from the outermost to the innermost
// (a child group over its parent; groups as deep by name), then the host's own — and
// the few variables memplay reads (inventory-variables.ts) turned into the settings of
// a `hosts:` entry.

/** Where an inventory variable that a host's setting comes from was written. */
export interface SettingOrigin {
  readonly variable: string;
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

export interface InventoryHost {
  readonly name: string;
  /** Where the file first lists it. */
  readonly at: Spot;
  /** The host as a `hosts:` entry would write it: `address`, `ssh.port`/`user`/`identity_file`, `memcached.port`. */
  readonly settings: RawRecord;
  /** Where each of those settings was written, by its path in the entry (`ssh.port`); no entry: the host's name is its address. */
  readonly origins: ReadonlyMap<string, SettingOrigin>;
}

export interface InventoryGroup {
  readonly at: Spot;
  /** Its hosts and those of the groups nested in it, in file order. */
  readonly members: readonly string[];
}

export interface Inventory {
  /** The file as messages name it. */
  readonly file: string;
  /** In the order the file first lists them. */
  readonly hosts: readonly InventoryHost[];
  /** Every group but Ansible's implicit `all` and `ungrouped`, in file order. */
  readonly groups: ReadonlyMap<string, InventoryGroup>;
}

export type InventoryRead =
  | { readonly kind: 'unreadable'; readonly reason: string }
  | { readonly kind: 'read'; readonly inventory: Inventory; readonly problems: readonly Diagnostic[] };

/**
 * Reads the inventory at `path` (absolute), named `file` in messages. A name ending in
 * `.yml`, `.yaml` or `.json` is read as YAML, anything else as INI, as Ansible decides.
 */
export async function readInventory(file: string, path: string): Promise<InventoryRead> {
  let bytes: Buffer;
  try {
    // stat first: reading a FIFO would wait for a writer.
    const info = await stat(path);
    if (info.isDirectory()) {
      return {
        kind: 'unreadable',
        reason: 'it is a folder; memplay reads one inventory file, INI or YAML — name the file',
      };
    }
    if (!info.isFile()) return { kind: 'unreadable', reason: 'it is not a regular file' };
    bytes = await readTextFile(path);
  } catch (error) {
    if (error instanceof UnreadableFile) return { kind: 'unreadable', reason: error.message };
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      return {
        kind: 'unreadable',
        reason: "no such file; check the path (a relative one starts at the playbook's folder)",
      };
    }
    if (code === 'EACCES' || code === 'EPERM') {
      return { kind: 'unreadable', reason: 'permission denied; check the file permissions' };
    }
    return { kind: 'unreadable', reason: (error as Error).message };
  }
  const encoding = notUtf8Problem(file, bytes, 'inventory');
  if (encoding) return { kind: 'read', inventory: emptyInventory(file), problems: [encoding] };
  const text = bytes.toString('utf8');
  const yaml = ['.yml', '.yaml', '.json'].includes(extname(path).toLowerCase());
  const misnamed = yaml ? undefined : yamlLookingLine(text);
  if (misnamed !== undefined) {
    const message =
      'this looks like a YAML inventory, but memplay (as Ansible) reads a file as YAML only when its name ' +
      'ends in .yml or .yaml — rename it, or write it as INI';
    return {
      kind: 'read',
      inventory: emptyInventory(file),
      problems: [{ file, line: misnamed, col: 1, message }],
    };
  }
  const tree = yaml ? parseYamlInventory(file, text) : parseIniInventory(file, text);
  const built = buildInventory(file, dirname(path), tree);
  return { kind: 'read', inventory: built.inventory, problems: [...tree.problems, ...built.problems] };
}

function emptyInventory(file: string): Inventory {
  return { file, hosts: [], groups: new Map() };
}

// INI has no line like `all:`; YAML inventories start with one.
function yamlLookingLine(text: string): number | undefined {
  const lines = text.split(/\r?\n/);
  const first = lines.findIndex((line) => /\S/.test(line) && !/^\s*[#;]/.test(line));
  return first >= 0 && /^[A-Za-z0-9_.-]+:\s*(#.*)?$/.test(lines[first] as string) ? first + 1 : undefined;
}

interface Group {
  readonly name: string;
  readonly at: Spot;
  /** The hosts listed in the group itself. */
  readonly hosts: Set<string>;
  readonly children: { readonly name: string; readonly at: Spot }[];
  readonly vars: InventoryVariable[];
}

interface Listing {
  readonly name: string;
  readonly at: Spot;
  readonly vars: readonly InventoryVariable[];
}

// Ansible's implicit groups: every host is in `all`, and `ungrouped` holds the hosts of no
// other group. Neither is a memplay group: `--limit all` already means every host.
const implicitGroups = new Set(['all', 'ungrouped']);

// The rule of memplay's host and group names.
const namePattern = new RegExp(String((playbookSchema.$defs as { name: { pattern: string } }).name.pattern));

/** The hosts and groups `tree` describes; `folder` is where relative key files are. */
export function buildInventory(
  file: string,
  folder: string,
  tree: InventoryTree,
): { inventory: Inventory; problems: Diagnostic[] } {
  const problems: Diagnostic[] = [];
  const problem = (at: Spot, message: string) => problems.push({ file, ...at, message });

  const groups = new Map<string, Group>();
  const listings: Listing[] = [];
  for (const entry of tree.groups) {
    const group = groups.get(entry.name) ?? {
      name: entry.name,
      at: entry.at,
      hosts: new Set<string>(),
      children: [],
      vars: [],
    };
    groups.set(entry.name, group);
    group.children.push(...entry.children);
    group.vars.push(...entry.vars);
    for (const host of entry.hosts) {
      const names = expandHostPattern(host.pattern);
      if ('problem' in names) {
        problem(host.at, names.problem);
        continue;
      }
      for (const name of names) {
        group.hosts.add(name);
        listings.push({ name, at: host.at, vars: host.vars });
      }
    }
  }
  if (!groups.has('all'))
    groups.set('all', { name: 'all', at: { line: 1, col: 1 }, hosts: new Set(), children: [], vars: [] });

  const childrenOf = nesting(groups, problem);
  const parentsOf = new Map<string, string[]>();
  for (const [parent, children] of childrenOf) {
    for (const child of children) parentsOf.set(child, [...(parentsOf.get(child) ?? []), parent]);
  }
  for (const name of groups.keys()) {
    if (name !== 'all' && !parentsOf.has(name)) parentsOf.set(name, ['all']);
  }
  const depthOf = depths(parentsOf);

  // Hosts in the order the file lists them (a YAML group's hosts may come after its children).
  listings.sort((a, b) => a.at.line - b.at.line || a.at.col - b.at.col);
  const order = [...new Set(listings.map((listing) => listing.name))];
  const firstListing = new Map<string, Spot>();
  for (const listing of listings)
    if (!firstListing.has(listing.name)) firstListing.set(listing.name, listing.at);

  for (const name of order) {
    if (!namePattern.test(name)) {
      problem(
        firstListing.get(name) as Spot,
        `host "${name}" cannot be a memplay host name: use letters, digits, "_", "." and "-", starting with a letter or digit — ` +
          'give the host such a name and its address as ansible_host, e.g. cache6 ansible_host=2001:db8::6',
      );
    }
  }
  for (const group of groups.values()) {
    if (implicitGroups.has(group.name)) continue;
    if (!namePattern.test(group.name)) {
      problem(
        group.at,
        `group "${group.name}" cannot be a memplay group name: use letters, digits, "_", "." and "-", starting with a letter or digit`,
      );
    }
    if (firstListing.has(group.name)) {
      problem(
        group.at,
        `group "${group.name}" has the same name as a host; rename one so --limit can tell them apart`,
      );
    }
  }

  const readable = readableVariables(
    [...[...groups.values()].flatMap((group) => group.vars), ...listings.flatMap((listing) => listing.vars)],
    folder,
    problem,
  );

  // Every group a host is in, `all` and the groups around its own included.
  const enclosing = (name: string, into: Set<string>) => {
    if (into.has(name)) return;
    into.add(name);
    for (const parent of parentsOf.get(name) ?? []) enclosing(parent, into);
  };
  const groupsOfHost = new Map<string, Set<string>>();
  for (const host of order) {
    const found = new Set<string>(['all']);
    for (const group of groups.values()) if (group.hosts.has(host)) enclosing(group.name, found);
    groupsOfHost.set(host, found);
  }

  const hosts = order.map((name): InventoryHost => {
    const merged = new Map<string, InventoryVariable>();
    const byDepth = [...(groupsOfHost.get(name) ?? [])].sort(
      (a, b) => (depthOf.get(a) ?? 0) - (depthOf.get(b) ?? 0) || a.localeCompare(b),
    );
    for (const group of byDepth)
      for (const variable of groups.get(group)?.vars ?? []) merged.set(variable.name, variable);
    for (const listing of listings) {
      if (listing.name === name) for (const variable of listing.vars) merged.set(variable.name, variable);
    }
    const settings: RawRecord = { address: name };
    const origins = new Map<string, SettingOrigin>();
    for (const variable of merged.values()) {
      const value = readable.get(variable);
      const path = inventoryVariables[variable.name];
      if (value === undefined || path === undefined) continue;
      setAt(settings, path, value);
      origins.set(path.join('.'), { variable: variable.name, file, ...variable.at });
    }
    return { name, at: firstListing.get(name) as Spot, settings, origins };
  });

  const memplayGroups = new Map<string, InventoryGroup>();
  for (const group of groups.values()) {
    if (implicitGroups.has(group.name)) continue;
    const members = order.filter((host) => groupsOfHost.get(host)?.has(group.name));
    memplayGroups.set(group.name, { at: group.at, members });
  }
  return { inventory: { file, hosts, groups: memplayGroups }, problems };
}

/**
 * Which groups each group contains. A child the file never defines (a typo in a
 * `[group:children]` section) and a child that would contain its own parent are
 * problems, left out of the nesting.
 */
function nesting(
  groups: ReadonlyMap<string, Group>,
  problem: (at: Spot, message: string) => void,
): Map<string, string[]> {
  const childrenOf = new Map<string, string[]>();
  const defined = [...groups.keys()];
  for (const group of groups.values()) {
    const children: string[] = [];
    for (const child of group.children) {
      if (!groups.has(child.name)) {
        const suggestion = closestName(
          child.name,
          defined.filter((name) => name !== group.name),
        );
        problem(
          child.at,
          `children of ${group.name}: "${child.name}" is not a group of this inventory${
            suggestion
              ? ` — did you mean "${suggestion}"?`
              : `; define it with a [${child.name}] section, or remove it`
          }`,
        );
      } else if (child.name === 'all') {
        problem(child.at, `children of ${group.name}: "all" holds every group already; remove it`);
      } else if (!children.includes(child.name)) children.push(child.name);
    }
    childrenOf.set(group.name, children);
  }
  // A cycle would make a group its own ancestor: find one edge of each and drop it.
  const state = new Map<string, 'open' | 'done'>();
  const visit = (name: string, path: string[]) => {
    state.set(name, 'open');
    const children = childrenOf.get(name) ?? [];
    for (const child of [...children]) {
      if (state.get(child) === 'open') {
        const loop = [...path.slice(path.indexOf(child)), name, child].join(' → ');
        const at = groups.get(name)?.children.find((c) => c.name === child)?.at ?? { line: 1, col: 1 };
        problem(
          at,
          `children of ${name}: "${child}" already contains ${name} (${loop}); a group cannot contain itself — remove one of them`,
        );
        children.splice(children.indexOf(child), 1);
      } else if (state.get(child) === undefined) visit(child, [...path, name]);
    }
    state.set(name, 'done');
  };
  for (const name of groups.keys()) if (state.get(name) === undefined) visit(name, []);
  return childrenOf;
}

// Ansible's group depth: `all` is 0, a group one more than its deepest parent.
function depths(parentsOf: ReadonlyMap<string, readonly string[]>): Map<string, number> {
  const depthOf = new Map<string, number>([['all', 0]]);
  const depth = (name: string): number => {
    const known = depthOf.get(name);
    if (known !== undefined) return known;
    const value = 1 + Math.max(0, ...(parentsOf.get(name) ?? []).map(depth));
    depthOf.set(name, value);
    return value;
  };
  for (const name of parentsOf.keys()) depth(name);
  return depthOf;
}
