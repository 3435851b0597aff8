import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Lower layers never import higher ones (the style guide: "memcached/ knows nothing of
// tasks, transport/ nothing of playbooks, the engine nothing of terminals"). The
// layers, low to high, as the code stands:
//
//   errors.ts, units.ts, version.ts, project-root.ts   import no other layer
//   transport/    ssh, local, quoting
//   memcached/    the wire protocol and backup format (over a transport)
//   facts/, playbook/   read-only probes and the loaded playbook; they share types
//                 both ways (facts read HostConfig, init-from-running reads facts)
//   service/      systemd and friends
//   report/       events, their types and the renderers: data in, text out
//   tasks/        the task modules (fill in report's event types)
//   engine/       runs tasks, emits events (never renders them)
//   cli/, docs/   the top: may import anything
//
// Every import of a src file is read (static `import`/`export … from`), so a new
// file is checked without being listed here.

const src = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

const everyLayer = [
  'transport',
  'memcached',
  'facts',
  'playbook',
  'service',
  'report',
  'tasks',
  'engine',
  'cli',
  'docs',
];

/** For each layer, the layers it must not import. */
const forbidden: Record<string, readonly string[]> = {
  errors: everyLayer,
  units: everyLayer,
  version: everyLayer,
  'project-root': everyLayer,
  'file-sha256': everyLayer,
  transport: ['memcached', 'facts', 'playbook', 'service', 'report', 'tasks', 'engine', 'cli', 'docs'],
  memcached: ['facts', 'playbook', 'service', 'report', 'tasks', 'engine', 'cli', 'docs'],
  facts: ['service', 'report', 'tasks', 'engine', 'cli', 'docs'],
  playbook: ['service', 'report', 'tasks', 'engine', 'cli', 'docs'],
  service: ['report', 'tasks', 'engine', 'cli', 'docs'],
  report: ['service', 'tasks', 'engine', 'cli', 'docs'],
  tasks: ['engine', 'cli', 'docs'],
  engine: ['cli', 'docs'],
  cli: [],
  docs: [],
};

/**
 * What the engine may use of report/: the event contract and the progress
 * message it puts in each progress event. Renderers (pretty, plain, the views,
 * the recap) are the terminal's, which the engine knows nothing of.
 */
const reportForTheEngine = new Set([
  'report/events.ts',
  'report/event-types.ts',
  'report/gate-report.ts',
  'report/progress.ts',
]);

/**
 * Imports that break the layering and are not cheap to fix in passing (none
 * today). Each one names why it is still here; remove it once fixed (the test
 * fails on an entry that no longer occurs, so the list cannot go stale).
 */
const allowed = new Map<string, string>();

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** `tasks/gates/run-gates.ts` → `tasks`; `units.ts` → `units`. */
function layerOf(file: string): string {
  const [first] = file.split('/') as [string];
  return first.endsWith('.ts') ? first.slice(0, -'.ts'.length) : first;
}

const importPattern = /^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm;

/** Every src file's relative imports, as `from -> to` paths under src/. */
function importsOf(file: string): string[] {
  const from = relative(src, file).split(sep).join('/');
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(importPattern)]
    .map((match) => match[1] as string)
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => {
      const to = posix.normalize(posix.join(posix.dirname(from), specifier)).replace(/\.js$/, '.ts');
      return `${from} -> ${to}`;
    });
}

function breaksLayering(edge: string): boolean {
  const [from, to] = edge.split(' -> ') as [string, string];
  const fromLayer = layerOf(from);
  const toLayer = layerOf(to);
  if (fromLayer === toLayer) return false;
  if (fromLayer === 'engine' && toLayer === 'report') return !reportForTheEngine.has(to);
  const rule = forbidden[fromLayer];
  if (rule === undefined)
    throw new Error(`${from}: src/${fromLayer} is in no layer; add it to the layering test`);
  return rule.includes(toLayer);
}

const edges = sourceFiles(src).flatMap(importsOf);

describe('layering: lower layers never import higher ones', () => {
  it('reads the imports of every src file', () => {
    // A parser that found nothing would pass every rule below.
    expect(edges).toContain('report/events.ts -> report/event-types.ts');
    expect(edges).toContain('transport/ssh.ts -> transport/ssh-client.ts');
    expect(edges.length).toBeGreaterThan(500);
  });

  it('no import goes up a layer, except the listed ones', () => {
    const broken = edges.filter(breaksLayering).filter((edge) => !allowed.has(edge));
    expect(broken).toEqual([]);
  });

  it('every allowed exception still occurs (fixed ones leave the list)', () => {
    const occurring = new Set(edges.filter(breaksLayering));
    expect([...allowed.keys()].filter((edge) => !occurring.has(edge))).toEqual([]);
  });

  it('report/ imports nothing of tasks/, engine/ or cli/', () => {
    const upward = edges.filter((edge) => /^report\/.* -> (tasks|engine|cli)\//.test(edge));
    expect(upward).toEqual([]);
  });

  it('the rules catch an upward import', () => {
    expect(breaksLayering('memcached/metadump.ts -> tasks/backup.ts')).toBe(true);
    expect(breaksLayering('transport/ssh.ts -> playbook/types.ts')).toBe(true);
    expect(breaksLayering('engine/run.ts -> report/pretty.ts')).toBe(true);
    expect(breaksLayering('engine/run.ts -> report/events.ts')).toBe(false);
    expect(breaksLayering('report/plan-view.ts -> tasks/task.ts')).toBe(true);
    expect(breaksLayering('tasks/backup.ts -> memcached/backup-pass.ts')).toBe(false);
  });
});
