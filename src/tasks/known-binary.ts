/**
 * Whether a command line read back from a host (`/proc/<pid>/cmdline`) starts a memcached
 * build memplay knows: `<prefix>/current/bin/memcached` or `<prefix>/<build>/bin/memcached`
 * for a build the facts found under the prefix. A rollback runs that command line again,
 * so anything else — another program, a path outside the prefix, `..` — is refused: the
 * host wrote that file, and memplay runs only what it installed.
 */
export function unknownBinaryReason(
  argv: readonly string[],
  prefix: string,
  buildDirs: readonly string[],
): string | null {
  const program = argv[0];
  if (program === undefined || program === '') return 'the command line is empty';
  const base = prefix.replace(/\/+$/, '');
  const known = ['current', ...buildDirs].map((dir) => `${base}/${dir}/bin/memcached`);
  if (known.includes(program)) return null;
  return `it starts ${JSON.stringify(program)}, which is not a memcached build memplay installed under ${base} (${known.join(', ')})`;
}
