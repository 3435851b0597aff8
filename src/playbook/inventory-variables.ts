import { isAbsolute, resolve as resolvePath } from 'node:path';
import type { InventoryVariable, Spot } from './inventory-tree.js';
import type { RawRecord } from './merge.js';
import { hostSettingProblems } from './schema-messages.js';
import { textProblem } from './text-values.js';
import { quoteText } from './words.js';

// The Ansible variables memplay reads from an inventory, and how each becomes a setting
// of a `hosts:` entry. Every other variable is Ansible's business and is ignored.

/** The variables memplay reads, and the setting of a `hosts:` entry each one is. */
export const inventoryVariables: Readonly<Record<string, readonly [string] | readonly [string, string]>> = {
  ansible_host: ['address'],
  ansible_port: ['ssh', 'port'],
  ansible_user: ['ssh', 'user'],
  ansible_ssh_private_key_file: ['ssh', 'identity_file'],
  memcached_port: ['memcached', 'port'],
};

/**
 * Each read variable among `variables` checked once, where it is written, with the
 * playbook's own rules; the value each valid one gives its setting.
 */
export function readableVariables(
  variables: readonly InventoryVariable[],
  folder: string,
  problem: (at: Spot, message: string) => void,
): Map<InventoryVariable, unknown> {
  const values = new Map<InventoryVariable, unknown>();
  const checked = new Set<InventoryVariable>();
  for (const variable of variables) {
    const path = inventoryVariables[variable.name];
    if (path === undefined || checked.has(variable)) continue;
    checked.add(variable);
    const value = settingValue(path, variable.value);
    const trouble = valueProblem(path, value);
    if (trouble !== undefined) {
      problem(variable.at, `${variable.name}: ${trouble}`);
      continue;
    }
    values.set(variable, path[1] === 'identity_file' ? keyFile(value as string, folder) : value);
  }
  return values;
}

// INI values are text, and Ansible turns a port's digits into a number; a YAML number
// in a text setting (ansible_host: 10) is its digits.
function settingValue(path: readonly string[], value: unknown): unknown {
  if (path[1] === 'port') return typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  return typeof value === 'number' ? String(value) : value;
}

function valueProblem(path: readonly string[], value: unknown): string | undefined {
  if (typeof value === 'string') {
    if (value.includes('{{') || value.includes('{%')) {
      return (
        `memplay does not evaluate Jinja templates (${quoteText(value)}); write the value itself here, ` +
        `or set ${path.join('.')} in the playbook`
      );
    }
    const text = textProblem(value);
    if (text !== undefined) return text;
  }
  const settings: RawRecord = {};
  setAt(settings, path, value);
  return hostSettingProblems(settings)[0]?.message;
}

// A relative key file is found from the inventory's folder; `~` is expanded later, with the playbook's.
function keyFile(path: string, folder: string): string {
  return path.startsWith('~') || isAbsolute(path) ? path : resolvePath(folder, path);
}

/** Sets `path` (`['ssh', 'port']`) in `record`, making the mappings on the way. */
export function setAt(record: RawRecord, path: readonly string[], value: unknown): void {
  const [head, ...rest] = path as [string, ...string[]];
  if (rest.length === 0) {
    record[head] = value;
    return;
  }
  const inner = (record[head] ?? {}) as RawRecord;
  record[head] = inner;
  setAt(inner, rest, value);
}
