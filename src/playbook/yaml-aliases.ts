import { type Document, isAlias, isCollection, isPair, type Node, visit } from 'yaml';
import type { Diagnostic } from '../errors.js';
import type { PlaybookSource } from './source.js';

// YAML aliases (`*name`) repeat a node anchored earlier (`&name`). They are how
// a fleet says "every host logs in like this" once, and how a file of a few
// lines expands into gigabytes (the "billion laughs"), or into a cycle that
// overflows the stack of every walk over the data. The yaml library guards the
// expansion with maxAliasCount and throws, without a position, when it is
// exceeded; the same measure is taken here first, over the parsed nodes, so the
// user gets the alias's FILE:LINE:COL. A recursive alias is refused the same way.

/**
 * The yaml library's measure for one anchor (its uses, times the aliases its
 * node holds) may reach this. 10,000 hosts each reusing one anchor (ssh
 * settings, say) measure 10,001; nested anchors multiply, which is the attack.
 */
export const MAX_ALIAS_COUNT = 100_000;

interface AnchorUse {
  count: number;
  aliasCount: number;
}

/** The alias problems of a parsed document: an alias without its anchor, a recursive one, too many. */
export function aliasProblems(source: PlaybookSource): Diagnostic[] {
  const document = source.document;
  const anchors = new Map<string, Node>();
  const targets = new Map<Node, Node>();
  const uses = new Map<Node, AnchorUse>();
  const problems: Diagnostic[] = [];
  const at = (node: Node, message: string) =>
    problems.push(source.diagnosticAtOffset(node.range?.[0] ?? 0, message));

  // Document order, parents before children: as the library resolves aliases,
  // an alias means the last node with that anchor opened before it.
  visit(document as Document, {
    Node(_key, node) {
      if (isAlias(node)) {
        const target = anchors.get(node.source);
        if (!target) {
          at(
            node,
            `YAML alias *${node.source} refers to no anchor &${node.source} set before it; define the anchor first, or write the value out`,
          );
          return visit.BREAK;
        }
        if (contains(target, node)) {
          at(
            node,
            `YAML alias *${node.source} is inside the node anchored &${node.source} that it repeats, which would repeat itself forever; write the value out instead`,
          );
          return visit.BREAK;
        }
        targets.set(node, target);
        let use = uses.get(target);
        if (!use) {
          use = { count: 1, aliasCount: 0 };
          uses.set(target, use);
        }
        use.count += 1;
        if (use.aliasCount === 0) use.aliasCount = aliasCount(target, targets, uses);
        if (use.count * use.aliasCount > MAX_ALIAS_COUNT) {
          at(
            node,
            `YAML alias *${node.source}: the file's aliases expand to more than ${MAX_ALIAS_COUNT.toLocaleString('en-US')} copies of anchored nodes (aliases nested in anchors multiply); write the repeated settings once under defaults: or a group instead`,
          );
          return visit.BREAK;
        }
        return undefined;
      }
      const anchor = (node as { anchor?: unknown }).anchor;
      if (typeof anchor === 'string' && anchor !== '') anchors.set(anchor, node);
      return undefined;
    },
  });
  return problems;
}

function contains(outer: Node, inner: Node): boolean {
  const [start, , end] = outer.range ?? [0, 0, 0];
  const offset = inner.range?.[0] ?? -1;
  return isCollection(outer) && offset >= start && offset < end;
}

/** As the yaml library counts it: the largest expansion among the aliases the node holds, else 1. */
function aliasCount(node: unknown, targets: Map<Node, Node>, uses: Map<Node, AnchorUse>): number {
  if (isAlias(node)) {
    const target = targets.get(node);
    const use = target && uses.get(target);
    return use ? use.count * use.aliasCount : 0;
  }
  if (isCollection(node)) {
    let count = 0;
    for (const item of node.items) count = Math.max(count, aliasCount(item, targets, uses));
    return count;
  }
  if (isPair(node)) {
    return Math.max(aliasCount(node.key, targets, uses), aliasCount(node.value, targets, uses));
  }
  return 1;
}
