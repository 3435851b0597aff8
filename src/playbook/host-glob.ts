// The shell-style globs of `--limit` (`cache*`, `web?`, `[ab]1`, `[!0-9]x`),
// matched without a regular expression: a pattern compiled to a regex like
// `^.*a.*a.*…b$` backtracks exponentially (25 stars against an 88-character
// name ran for minutes), and `[!]` became the JavaScript class `[^]`, which
// matches every character. Here a pattern is parsed once into steps and
// matched by the classic two-pointer walk, which retries only from the last
// `*`: at most (pattern length × name length) steps, whatever the pattern.

/** A pattern longer than this is not a host name or a glob anyone typed. */
export const MAX_GLOB_LENGTH = 256;

type Step =
  | { readonly kind: 'char'; readonly char: string }
  | { readonly kind: 'any' }
  | { readonly kind: 'star' }
  | {
      readonly kind: 'set';
      readonly negated: boolean;
      readonly ranges: readonly (readonly [string, string])[];
    };

export type GlobParse = { readonly match: (name: string) => boolean } | { readonly problem: string };

/** Whether `pattern` has a wildcard: without one it is a name, looked up, not matched. */
export function isGlob(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/** The matcher for `pattern`, or why it is not a pattern (an unclosed or empty `[…]`, too long). */
export function parseGlob(pattern: string): GlobParse {
  const length = [...pattern].length;
  if (length > MAX_GLOB_LENGTH) {
    return {
      problem: `is ${length} characters long; a host name or pattern has at most ${MAX_GLOB_LENGTH}`,
    };
  }
  const chars = [...pattern];
  const steps: Step[] = [];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    if (c === '*') {
      // `**` matches what `*` does; one step keeps the walk short.
      if (steps.at(-1)?.kind !== 'star') steps.push({ kind: 'star' });
    } else if (c === '?') steps.push({ kind: 'any' });
    else if (c === '[') {
      const negated = chars[i + 1] === '!';
      const first = i + (negated ? 2 : 1);
      // As in the shell, a `]` right after `[` or `[!` is one of the characters.
      const close = chars.indexOf(']', first + 1);
      if (chars[first] === undefined || (close < 0 && chars[first] !== ']')) {
        return {
          problem: `opens a set of characters with "[" that is never closed with "]"; write it like [ab] or [!0-9]`,
        };
      }
      if (close < 0) {
        return {
          problem: `has an empty set of characters "${negated ? '[!]' : '[]'}"; write the characters ${negated ? 'to exclude' : 'to match'} inside, like ${negated ? '[!0-9]' : '[ab]'}`,
        };
      }
      const members = chars.slice(first, close);
      const ranges: [string, string][] = [];
      for (let m = 0; m < members.length; m++) {
        const low = members[m] as string;
        const high = members[m + 2];
        if (members[m + 1] === '-' && high !== undefined) {
          if (high < low) {
            return {
              problem: `has the range ${low}-${high}, which runs backwards; write it as ${high}-${low}`,
            };
          }
          ranges.push([low, high]);
          m += 2;
        } else ranges.push([low, low]);
      }
      steps.push({ kind: 'set', negated, ranges });
      i = close;
    } else steps.push({ kind: 'char', char: c });
  }
  return { match: (name) => matches(steps, [...name]) };
}

function matchesOne(step: Step, c: string): boolean {
  switch (step.kind) {
    case 'char':
      return step.char === c;
    case 'any':
      return true;
    case 'set':
      return step.ranges.some(([low, high]) => c >= low && c <= high) !== step.negated;
    case 'star':
      return false;
  }
}

function matches(steps: readonly Step[], name: readonly string[]): boolean {
  let p = 0;
  let n = 0;
  // Where the last `*` was, and the name position it now stands in for up to.
  let starStep = -1;
  let starName = 0;
  while (n < name.length) {
    const step = steps[p];
    if (step?.kind === 'star') {
      starStep = p++;
      starName = n;
    } else if (step !== undefined && matchesOne(step, name[n] as string)) {
      p++;
      n++;
    } else if (starStep >= 0) {
      // Let the last `*` take one more character and try the rest again.
      p = starStep + 1;
      n = ++starName;
    } else return false;
  }
  while (steps[p]?.kind === 'star') p++;
  return p === steps.length;
}
