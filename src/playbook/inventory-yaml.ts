import { isAlias, isMap, isScalar, type Node, type Pair, type YAMLMap } from 'yaml';
import type { Diagnostic } from '../errors.js';
import type { GroupEntry, HostEntry, InventoryTree, InventoryVariable, Spot } from './inventory-tree.js';
import { parseYamlText } from './load.js';
import { keyText, type PlaybookSource } from './source.js';
import { closestName, describeValue } from './words.js';
import { MAX_ALIAS_COUNT } from './yaml-aliases.js';

// Ansible's YAML inventory, read as its `yaml` plugin reads it: the top-level keys are
// groups (usually just `all`); a group has `hosts` (host name → its variables or
// nothing), `vars` and `children` (group name → a group like this one, or nothing).

interface MutableGroup extends GroupEntry {
  readonly hosts: HostEntry[];
  readonly children: { name: string; at: Spot }[];
  readonly vars: InventoryVariable[];
}

const groupKeys = ['hosts', 'vars', 'children'];

export function parseYamlInventory(file: string, text: string): InventoryTree {
  const { source, diagnostics, readable } = parseYamlText(file, text, 'inventory');
  if (!readable) return { groups: [], problems: diagnostics };
  const problems: Diagnostic[] = [...diagnostics];
  const groups: MutableGroup[] = [];
  const spot = (node: Node | null | undefined, fallback: Spot = { line: 1, col: 1 }): Spot =>
    node?.range ? source.position(node.range[0]) : fallback;
  const problem = (at: Spot, message: string) => problems.push({ file, ...at, message });

  // An alias (`*common`) stands for the node its anchor names.
  const deref = (node: unknown): unknown => (isAlias(node) ? node.resolve(source.document) : node);

  const readGroup = (key: Node, aliasOrValue: unknown) => {
    const value = deref(aliasOrValue);
    const entry: MutableGroup = { name: keyText(key), at: spot(key), hosts: [], children: [], vars: [] };
    groups.push(entry);
    if (isEmpty(value)) return;
    if (!isMap(value)) {
      problem(
        spot(value as Node, entry.at),
        `group ${entry.name}: must be a mapping with hosts:, children: and vars: (got ${describeValue(toData(source, value))})`,
      );
      return;
    }
    for (const pair of value.items as Pair<Node, unknown>[]) {
      const name = keyText(pair.key);
      const at = spot(pair.key, entry.at);
      if (!groupKeys.includes(name)) {
        const suggestion = closestName(name, groupKeys);
        problem(
          at,
          `group ${entry.name}: unknown key "${name}"${
            suggestion
              ? ` — did you mean "${suggestion}"?`
              : '; a group has hosts:, children: and vars: (a host variable goes under the host, a group variable under vars:)'
          }`,
        );
        continue;
      }
      const section = deref(pair.value);
      if (isEmpty(section)) continue;
      if (!isMap(section)) {
        const example =
          name === 'hosts'
            ? 'cache1: { ansible_host: 10.0.0.1 }'
            : name === 'children'
              ? 'east: { hosts: { cache1: } }'
              : 'ansible_user: deploy';
        problem(
          spot(pair.value as Node, at),
          `group ${entry.name}: ${name} must be a mapping, e.g. ${example} (got ${describeValue(toData(source, section))})`,
        );
        continue;
      }
      const items = (section as YAMLMap<Node, unknown>).items;
      if (name === 'vars') entry.vars.push(...variables(source, items, spot));
      else if (name === 'children') {
        for (const child of items) {
          entry.children.push({ name: keyText(child.key), at: spot(child.key, at) });
          readGroup(child.key, child.value);
        }
      } else {
        for (const host of items) {
          const hostAt = spot(host.key, at);
          const hostValue = deref(host.value);
          if (!isEmpty(hostValue) && !isMap(hostValue)) {
            problem(
              spot(host.value as Node, hostAt),
              `host ${keyText(host.key)}: its variables must be a mapping, e.g. { ansible_host: 10.0.0.1 }, or nothing (got ${describeValue(toData(source, hostValue))})`,
            );
            continue;
          }
          const hostVars = isMap(hostValue)
            ? variables(source, (hostValue as YAMLMap<Node, unknown>).items, spot)
            : [];
          entry.hosts.push({ pattern: keyText(host.key), at: hostAt, vars: hostVars });
        }
      }
    }
  };

  const root = source.document.contents;
  if (root === null || isEmpty(root)) {
    problem({ line: 1, col: 1 }, 'the inventory is empty; it needs at least all: with hosts: under it');
  } else if (!isMap(root)) {
    problem(
      spot(root),
      `an inventory must map group names to their hosts, children and vars, e.g. all: { hosts: { cache1: } } (got ${describeValue(toData(source, root))})`,
    );
  } else {
    for (const pair of root.items as Pair<Node, unknown>[]) readGroup(pair.key, pair.value);
  }
  return { groups, problems };
}

function variables(
  source: PlaybookSource,
  items: readonly Pair<Node, unknown>[],
  spot: (node: Node | null | undefined, fallback?: Spot) => Spot,
): InventoryVariable[] {
  return items.map((pair) => {
    const keyAt = spot(pair.key);
    const value = pair.value as Node | null;
    // An empty value has no text of its own: point at its name.
    const at = isEmpty(value) ? keyAt : spot(value, keyAt);
    return { name: keyText(pair.key), value: toData(source, value), at };
  });
}

function isEmpty(node: unknown): boolean {
  return node === null || node === undefined || (isScalar(node) && node.value === null);
}

function toData(source: PlaybookSource, node: unknown): unknown {
  if (node === null || node === undefined) return null;
  const value = node as { toJS?: (doc: unknown, options: { maxAliasCount: number }) => unknown };
  return typeof value.toJS === 'function'
    ? value.toJS(source.document, { maxAliasCount: MAX_ALIAS_COUNT })
    : node;
}
