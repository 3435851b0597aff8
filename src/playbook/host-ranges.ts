// Host ranges as Ansible inventories write them: `cache[01:03].example.com` is cache01,
// cache02 and cache03; `[a:c]`, a step (`[0:10:5]`), a left-out start (`[:3]`, from 0)
// and several ranges in one name (`r[1:2]-[a:b]`) too.

// Ansible's order of letters (Python's string.ascii_letters): `[x:B]` runs through the capitals.
const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** More names than this from one pattern is a typo (`[1:100000]`), not a fleet. */
export const MAX_RANGE_HOSTS = 10_000;

/** The host names `pattern` stands for, in order, or why its range cannot be read. */
export function expandHostPattern(pattern: string): string[] | { problem: string } {
  const open = pattern.indexOf('[');
  if (open < 0) return [pattern];
  const close = pattern.indexOf(']', open);
  if (close < 0) return { problem: `"${pattern}" opens a host range with [ but never closes it with ]` };
  const head = pattern.slice(0, open);
  const range = pattern.slice(open + 1, close);
  const tail = pattern.slice(close + 1);
  const values = rangeValues(range);
  if ('problem' in values) return { problem: `host range [${range}] in "${pattern}": ${values.problem}` };
  const names: string[] = [];
  for (const value of values) {
    const expanded = expandHostPattern(`${head}${value}${tail}`);
    if ('problem' in expanded) return expanded;
    names.push(...expanded);
    if (names.length > MAX_RANGE_HOSTS) {
      return { problem: `"${pattern}" stands for more than ${MAX_RANGE_HOSTS} hosts; check the range` };
    }
  }
  return names;
}

function rangeValues(range: string): string[] | { problem: string } {
  const bounds = range.split(':');
  if (bounds.length !== 2 && bounds.length !== 3) {
    return { problem: 'write it as [start:end] or [start:end:step], e.g. [01:10]' };
  }
  const start = bounds[0] === '' ? '0' : (bounds[0] as string);
  const end = bounds[1] as string;
  const stepText = bounds[2] ?? '1';
  if (end === '') return { problem: 'the end is missing, e.g. [01:10]' };
  if (!/^[1-9]\d*$/.test(stepText))
    return { problem: `the step must be a whole number from 1 (got "${stepText}")` };
  const step = Number(stepText);
  if (letters.includes(start) && letters.includes(end) && start.length === 1 && end.length === 1) {
    const from = letters.indexOf(start);
    const to = letters.indexOf(end);
    if (from > to) return { problem: `"${start}" comes after "${end}"; write the first one first` };
    const values: string[] = [];
    for (let i = from; i <= to; i += step) values.push(letters[i] as string);
    return values;
  }
  if (!/^\d+$/.test(start) || !/^\d+$/.test(end)) {
    return { problem: 'the start and end must both be numbers (01, 10) or both single letters (a, f)' };
  }
  // A leading zero asks for names of one width: [01:10] is 01 … 10.
  const width = start.length > 1 && start.startsWith('0') ? start.length : 0;
  if (width > 0 && end.length !== width) {
    return {
      problem: `"${start}" and "${end}" must have the same number of digits when the start has a leading zero`,
    };
  }
  const from = Number(start);
  const to = Number(end);
  if (from > to) return { problem: `${start} is more than ${end}; write the lower one first` };
  if ((to - from) / step >= MAX_RANGE_HOSTS) {
    return { problem: `it stands for more than ${MAX_RANGE_HOSTS} hosts; check the range` };
  }
  const values: string[] = [];
  for (let n = from; n <= to; n += step) values.push(String(n).padStart(width, '0'));
  return values;
}
