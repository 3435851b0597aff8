import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
  type Pair,
  visit,
} from 'yaml';
import type { Diagnostic } from '../errors.js';
import { documentData } from './yaml-data.js';

/** A key of a mapping or an index into a list, from the document's root down. */
export type PathSegment = string | number;
export type Path = readonly PathSegment[];

/**
 * Where a diagnostic points. `key`: the key naming the node (unknown or incomplete
 * mappings); `value`: the value itself (wrong scalars), falling back to the key for
 * mappings and lists, whose first character is usually on the next line.
 */
export type Anchor = 'key' | 'value';

/** A parsed playbook file and what is needed to point at any of its nodes. */
export class PlaybookSource {
  constructor(
    /** The path as the user gave it: diagnostics show it unchanged. */
    readonly file: string,
    readonly document: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  /**
   * The document as plain data, as the schema sees it. parseYamlText has already
   * refused the aliases the yaml library's maxAliasCount would refuse, at their positions.
   */
  data(): unknown {
    this.aliasTargets ??= aliasTargets(this.document);
    return documentData(this.document, this.aliasTargets);
  }

  diagnostic(path: Path, message: string, anchor: Anchor = 'value'): Diagnostic {
    const offset = this.offsetOf(path, anchor);
    return { file: this.file, ...this.position(offset), message };
  }

  /** A diagnostic at a raw character offset, for YAML errors that name no node. */
  diagnosticAtOffset(offset: number, message: string): Diagnostic {
    return { file: this.file, ...this.position(offset), message };
  }

  position(offset: number): { line: number; col: number } {
    const { line, col } = this.lines.linePos(offset);
    return { line, col };
  }

  /** The node at `path`, or undefined when the path leaves the document. */
  nodeAt(path: Path): Node | undefined {
    let node: Node | undefined = this.resolve(this.document.contents ?? undefined);
    for (const segment of path) {
      const step = this.child(node, segment);
      if (!step) return undefined;
      node = this.resolve(step.value);
    }
    return node;
  }

  private offsetOf(path: Path, anchor: Anchor): number {
    const root = this.document.contents;
    // The nearest node on the path: a diagnostic about a key the document lacks
    // points at the mapping that should have had it.
    let offset = root?.range[0] ?? 0;
    let node: Node | undefined = this.resolve(root ?? undefined);
    for (const [i, segment] of path.entries()) {
      const step = this.child(node, segment);
      if (!step) return offset;
      const last = i === path.length - 1;
      const value = this.resolve(step.value);
      const keyOffset = step.key?.range?.[0] ?? step.value?.range?.[0];
      if (last) {
        // An empty value (`host1:` and nothing) has no text of its own to point at.
        const empty = isScalar(value) && value.range?.[0] === value.range?.[1];
        const pointAtValue =
          anchor === 'value' && step.value !== undefined && ((isScalar(value) && !empty) || !step.key);
        return (pointAtValue ? step.value?.range?.[0] : keyOffset) ?? offset;
      }
      offset = keyOffset ?? offset;
      node = value;
    }
    return offset;
  }

  private child(node: Node | undefined, segment: PathSegment): { key?: Node; value?: Node } | undefined {
    if (isMap(node)) {
      const pair = this.pairsOf(node).get(String(segment));
      if (!pair) return undefined;
      return { key: pair.key as Node, value: (pair.value ?? undefined) as Node | undefined };
    }
    if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      return item === undefined ? undefined : { value: item as Node };
    }
    return undefined;
  }

  private resolve(node: Node | undefined): Node | undefined {
    if (!isAlias(node)) return node;
    // The library's resolve walks the whole document for every alias: with an
    // alias per host, pointing at each host of a 10,000-host fleet took minutes.
    this.aliasTargets ??= aliasTargets(this.document);
    return this.aliasTargets.get(node);
  }

  private aliasTargets: Map<Node, Node> | undefined;

  // Looking a host up among 10,000 by scanning was O(hosts) per diagnostic and per host's origins.
  private readonly pairIndex = new WeakMap<object, Map<string, Pair>>();

  private pairsOf(map: { items: Pair[] }): Map<string, Pair> {
    let index = this.pairIndex.get(map);
    if (!index) {
      // With duplicate keys the last one wins, as in the data the schema checks.
      index = new Map(map.items.map((pair) => [keyText(pair.key), pair]));
      this.pairIndex.set(map, index);
    }
    return index;
  }
}

/** What each alias of the document stands for: the last node anchored with its name before it. */
function aliasTargets(document: Document.Parsed): Map<Node, Node> {
  const anchors = new Map<string, Node>();
  const targets = new Map<Node, Node>();
  visit(document, {
    Node(_key, node) {
      if (isAlias(node)) {
        const target = anchors.get(node.source);
        if (target) targets.set(node, target);
        return;
      }
      const anchor = (node as { anchor?: unknown }).anchor;
      if (typeof anchor === 'string' && anchor !== '') anchors.set(anchor, node);
    },
  });
  return targets;
}

/** The text of a mapping key as the data sees it (`1: x` has the key "1"). */
export function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  if (key === null || key === undefined) return '';
  return String(key);
}

/** `hosts.host1.ssh.port`, `groups.east[1]`; keys that are not plain names are quoted. */
export function displayPath(path: Path): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else if (/^[A-Za-z0-9_-]+$/.test(segment)) text += text ? `.${segment}` : segment;
    else text += `[${JSON.stringify(segment)}]`;
  }
  return text;
}
