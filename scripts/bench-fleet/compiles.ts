// How many hosts compiled in a run, read from their build tasks' details: a host
// that compiled says `built <version> in …` (or `built … here in …` after a failed
// ship), one that received the tree says `received …`. One for the whole fleet is
// the 500-host target.
const COMPILED = /(^|; )built \S+ (here )?in /;

export function countCompiles(buildDetails: readonly string[]): number {
  return buildDetails.filter((detail) => COMPILED.test(detail)).length;
}
