import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

// Resolves the relative links of the README and docs/ as GitHub would, #anchors
// included: moving a section between pages silently breaks the links into it.

// Code is not markdown: a `[x](y)` inside a fence or a code span is text, not a link.
function withoutCode(markdown: string): string {
  return markdown
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
    .replace(/`+[^`\n]*`+/g, (span) => ' '.repeat(span.length));
}

function headings(markdown: string): string[] {
  const withoutFences = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  return [...withoutFences.matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)].map((match) => match[1] ?? '');
}

// GitHub's slug: the heading's text (markup and link targets dropped), lower-cased,
// every character but letters, digits, `_`, `-` and spaces removed, spaces as `-`;
// a repeated slug gets -1, -2, … in order.
export function githubSlug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[`*]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const heading of headings(markdown)) {
    const slug = githubSlug(heading);
    const count = seen.get(slug) ?? 0;
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
    seen.set(slug, count + 1);
  }
  return anchors;
}

export function markdownFiles(): string[] {
  const docs = readdirSync('docs', { recursive: true, encoding: 'utf8' })
    .filter((path) => path.endsWith('.md'))
    .map((path) => join('docs', path));
  return ['README.md', ...docs].sort();
}

export type Pages = { read: (path: string) => string; exists: (path: string) => boolean };
export const disk: Pages = { read: (path) => readFileSync(path, 'utf8'), exists: existsSync };

export function brokenLinks(file: string, { read, exists }: Pages): string[] {
  const problems: string[] = [];
  const text = read(file);
  const lines = withoutCode(text).split('\n');
  lines.forEach((line, index) => {
    for (const match of line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const target = match[1] ?? '';
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [path = '', anchor] = target.split('#', 2);
      const resolved = path === '' ? file : join(dirname(file), decodeURIComponent(path));
      const where = `${file}:${index + 1}: ${target}`;
      if (!exists(resolved)) {
        problems.push(`${where} — ${resolved} does not exist`);
        continue;
      }
      if (anchor === undefined) continue;
      if (!resolved.endsWith('.md')) {
        problems.push(`${where} — an #anchor into ${resolved}, which is not a markdown file`);
        continue;
      }
      if (!anchorsOf(read(resolved)).has(anchor)) {
        problems.push(`${where} — ${relative('.', resolved)} has no heading with anchor #${anchor}`);
      }
    }
  });
  return problems;
}
