// The aligned text tables `facts` and `backups` print: a header row, then one
// row per entry, columns two spaces apart, numbers right-aligned.

/** The header and rows as lines; nothing at all when there are no rows. */
export function formatTable(
  columns: readonly string[],
  rows: readonly (readonly string[])[],
  rightAligned: ReadonlySet<number>,
): string[] {
  const widths = columns.map((title, i) =>
    Math.max(title.length, ...rows.map((c) => (c[i] as string).length)),
  );
  const line = (c: readonly string[]) =>
    c
      .map((cell, i) =>
        rightAligned.has(i) ? cell.padStart(widths[i] as number) : cell.padEnd(widths[i] as number),
      )
      .join('  ')
      .trimEnd();
  return rows.length ? [line(columns), ...rows.map(line)] : [];
}
