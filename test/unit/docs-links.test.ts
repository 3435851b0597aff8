import { describe, expect, it } from 'vitest';
import { anchorsOf, brokenLinks, disk, githubSlug, markdownFiles } from './markdown-links.js';

// The README and docs/ link into each other by file and #anchor; a section moved
// to another page must not leave a link pointing nowhere.
describe('links in README.md and docs/', () => {
  it('slugs headings as GitHub does', () => {
    expect(githubSlug('Warm swap (`swap.mode`)')).toBe('warm-swap-swapmode');
    expect(githubSlug("Will clients notice? verify's gates")).toBe('will-clients-notice-verifys-gates');
    expect(githubSlug('Your own steps: `tasks:`')).toBe('your-own-steps-tasks');
    expect(githubSlug('Handover (`swap.mode: handover`)')).toBe('handover-swapmode-handover');
    expect([...anchorsOf('# A\n## A\n```\n# not a heading\n```\n### A\n')]).toEqual(['a', 'a-1', 'a-2']);
  });

  it('finds a link to a missing file, a missing anchor, and ignores links inside code', () => {
    const pages: Record<string, string> = {
      'docs/a.md':
        '# Title\n\nSee [b](b.md#there), [c](c.md), [self](#title), [gone](#nowhere).\n`[x](y.md)`\n',
      'docs/b.md': '# B\n\n## There\n',
    };
    const problems = brokenLinks('docs/a.md', {
      read: (path) => pages[path] ?? '',
      exists: (path) => path in pages,
    });
    expect(problems).toHaveLength(2);
    expect(problems.join('\n')).toContain('c.md does not exist');
    expect(problems.join('\n')).toContain('no heading with anchor #nowhere');
  });

  it('every relative link and #anchor points at a file and heading that exist', () => {
    const files = markdownFiles();
    expect(files).toContain('docs/README.md');
    const problems = files.flatMap((file) => brokenLinks(file, disk));
    expect(problems).toEqual([]);
  });
});
