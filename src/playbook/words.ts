// Small wording helpers shared by the playbook's messages.

/** `"a", "b" or "c"` */
export function quoteList(names: readonly string[], conjunction: 'and' | 'or'): string {
  const quoted = names.map((name) => `"${name}"`);
  if (quoted.length <= 1) return quoted.join('');
  return `${quoted.slice(0, -1).join(', ')} ${conjunction} ${quoted.at(-1)}`;
}

/** What a YAML value was read as, for "(got …)" in messages. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (typeof value === 'string') return `text ${quoteText(value)}`;
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'boolean') return `${value}`;
  if (Array.isArray(value)) return 'a list';
  return 'a mapping';
}

/**
 * The candidate a typo most likely meant, if any is close: at most one edit for short
 * names, two for longer ones (a swap of neighbours counts as one: "prot" → "port").
 */
export function closestName(typo: string, candidates: readonly string[]): string | undefined {
  const wanted = typo.toLowerCase();
  const limit = wanted.length <= 4 ? 1 : 2;
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const distance = editDistance(wanted, name.toLowerCase());
    if (distance <= limit && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

// Optimal string alignment distance: insertions, deletions, substitutions and
// transpositions of adjacent characters.
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number) => rows[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        distance = Math.min(distance, at(i - 2, j - 2) + 1);
      }
      (rows[i] as number[])[j] = distance;
    }
  }
  return at(a.length, b.length);
}

/**
 * Text as a message shows it: JSON quoting prints a newline or NUL as an escape
 * instead of the character itself, and a huge value is cut to stay readable.
 */
export function quoteText(text: string): string {
  return text.length > 80
    ? `${JSON.stringify(text.slice(0, 60))}… (${text.length} characters)`
    : JSON.stringify(text);
}
