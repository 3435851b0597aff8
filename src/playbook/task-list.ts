import type { Diagnostic } from '../errors.js';
import { isRecord } from './merge.js';
import { displayPath, type Path, type PlaybookSource } from './source.js';
import { taskNames } from './task-order.js';
import { closestName } from './words.js';

// `tasks:` may add command steps around the built-in tasks, never drop or
// reorder those: each depends on the one before it (swap on build and on the
// backup it seals, restore on that backup, verify on the restore), and a list
// without backup or restore would upgrade a host cold. That is stricter than a
// built-in sequence (task-order.ts), which may leave tasks out. The schema checks the
// shape of each step; this checks the list as a whole.

/** The built-in tasks of `memplay apply`, in the only order they can run (task-order.ts). */
const builtinTaskOrder = taskNames;

const shape = '`{ command: NAME, argv: [PROGRAM, ARG…] }`';

export function taskListProblems(source: PlaybookSource, tasks: unknown): Diagnostic[] {
  if (!Array.isArray(tasks)) return [];
  const found: Diagnostic[] = [];
  const seen = new Map<string, number>();
  let lastBuiltin = -1;
  for (const [index, step] of tasks.entries()) {
    const path: Path = ['tasks', index];
    if (typeof step === 'string') {
      const order = (builtinTaskOrder as readonly string[]).indexOf(step);
      if (order < 0) {
        const suggestion = closestName(step, [...builtinTaskOrder]);
        found.push(
          source.diagnostic(
            path,
            `${displayPath(path)}: unknown task "${step}"${suggestion ? ` — did you mean "${suggestion}"? T` : '; t'}` +
              `he built-in tasks are ${builtinTaskOrder.join(', ')}, and a step of your own is written ${shape}`,
          ),
        );
        continue;
      }
      if (seen.has(step)) {
        found.push(
          source.diagnostic(
            path,
            `${displayPath(path)}: "${step}" is listed twice; each built-in task runs once`,
          ),
        );
        continue;
      }
      if (order < lastBuiltin) {
        found.push(
          source.diagnostic(
            path,
            `${displayPath(path)}: "${step}" comes after "${builtinTaskOrder[lastBuiltin]}"; the built-in tasks run in the order ${builtinTaskOrder.join(', ')} — move it`,
          ),
        );
      }
      lastBuiltin = Math.max(lastBuiltin, order);
      seen.set(step, index);
      continue;
    }
    if (!isRecord(step) || typeof step.command !== 'string') continue;
    const name = step.command;
    const namePath: Path = [...path, 'command'];
    if ((builtinTaskOrder as readonly string[]).includes(name) || name === 'rollback') {
      found.push(
        source.diagnostic(
          namePath,
          `${displayPath(namePath)}: "${name}" is the name of a built-in task; give your step a name of its own, e.g. "${name}-hook"`,
        ),
      );
    } else if (seen.has(name)) {
      found.push(
        source.diagnostic(
          namePath,
          `${displayPath(namePath)}: a step named "${name}" is already listed at tasks[${seen.get(name)}]; names must be unique, as reports tell steps apart by them`,
        ),
      );
    } else seen.set(name, index);
    const program = Array.isArray(step.argv) ? step.argv[0] : undefined;
    if (typeof program === 'string' && program.includes('=')) {
      const at: Path = [...path, 'argv', 0];
      found.push(
        source.diagnostic(
          at,
          `${displayPath(at)}: the program "${program}" contains "=", which env(1) would take for a variable; give the program's path first`,
        ),
      );
    }
  }
  const missing = builtinTaskOrder.filter((name) => !seen.has(name));
  if (missing.length > 0) {
    found.push(
      source.diagnostic(
        ['tasks'],
        `tasks: misses ${missing.map((name) => `"${name}"`).join(', ')}; a task list keeps every built-in task (${builtinTaskOrder.join(', ')}, in that order) and adds command steps around them`,
        'key',
      ),
    );
  }
  return found;
}
