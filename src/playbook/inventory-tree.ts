import type { Diagnostic } from '../errors.js';

// An Ansible inventory as its file writes it, before groups are nested and variables
// merged: what the INI and the YAML readers both produce, every entry with its place.

/** 1-based line and column in the inventory file. */
export interface Spot {
  readonly line: number;
  readonly col: number;
}

export interface InventoryVariable {
  readonly name: string;
  /** As written: INI values are text, YAML values keep their YAML type. */
  readonly value: unknown;
  /** Where the value is (the key's place when it has no text of its own). */
  readonly at: Spot;
}

/** A host line (INI) or a key under `hosts:` (YAML); the pattern may hold ranges. */
export interface HostEntry {
  readonly pattern: string;
  readonly at: Spot;
  readonly vars: readonly InventoryVariable[];
}

/** One place that says something about a group: a section or a `children:` entry. */
export interface GroupEntry {
  readonly name: string;
  readonly at: Spot;
  readonly hosts: readonly HostEntry[];
  readonly children: readonly { readonly name: string; readonly at: Spot }[];
  readonly vars: readonly InventoryVariable[];
}

/** What the file says, in file order; a group may have several entries. */
export interface InventoryTree {
  readonly groups: readonly GroupEntry[];
  /** Syntax problems; the entries above are what could be read around them. */
  readonly problems: readonly Diagnostic[];
}
