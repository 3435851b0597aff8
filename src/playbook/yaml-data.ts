import { type Document, isAlias, isMap, isPair, isScalar, isSeq, type Node, type Pair } from 'yaml';

// The document as plain data, as the yaml library's toJS() makes it (core
// schema, objects for maps, an alias's value shared with its anchor's), but
// resolving each alias through a table built once: the library looks an alias
// up by scanning every node before it, so a fleet with an alias per host took
// O(hosts²) — 3,000 hosts 10 s, 10,000 over a minute, on every read of the data.
// Only documents whose aliases aliasProblems accepted get here: every alias
// has an earlier anchor, none is inside its own anchor, and the expansion is
// bounded by the same measure the library's maxAliasCount applies.

export function documentData(document: Document.Parsed, targets: ReadonlyMap<Node, Node>): unknown {
  const converted = new Map<Node, unknown>();
  const convert = (node: unknown): unknown => {
    if (isAlias(node)) {
      const target = targets.get(node);
      if (!target) throw new ReferenceError(`unresolved YAML alias *${node.source}`);
      return converted.has(target) ? converted.get(target) : convert(target);
    }
    let value: unknown;
    if (isScalar(node)) {
      value = typeof node.value === 'bigint' ? Number(node.value) : node.value;
    } else if (isMap(node)) {
      const map: Record<string, unknown> = {};
      converted.set(node, map);
      for (const pair of node.items) addPair(map, pair, convert);
      value = map;
    } else if (isSeq(node)) {
      const list: unknown[] = [];
      converted.set(node, list);
      for (const item of node.items) {
        if (isPair(item)) {
          const single: Record<string, unknown> = {};
          addPair(single, item, convert);
          list.push(single);
        } else list.push(convert(item));
      }
      value = list;
    } else value = node ?? null;
    converted.set(node as Node, value);
    return value;
  };
  return document.contents === null ? null : convert(document.contents);
}

function addPair(map: Record<string, unknown>, pair: Pair, convert: (node: unknown) => unknown): void {
  const key = convert(pair.key);
  // As the library's stringifyKey: null is "", a scalar its text, anything else JSON.
  const name =
    key === null || key === undefined ? '' : typeof key === 'object' ? JSON.stringify(key) : String(key);
  const value = convert(pair.value);
  // `__proto__: x` is a key like any other, never the object's prototype.
  Object.defineProperty(map, name, { value, writable: true, enumerable: true, configurable: true });
}
