// The built-in tasks, declared once: their names, the one order they run in, and
// what each needs to have run before it in the same sequence. The playbook's
// `tasks:` (task-list.ts), the built-in sequences (playbooks/*.yml, checked by
// src/engine/pipeline-file.ts) and the task modules' names all read it from here.
// It lives under playbook/ because task names are part of the playbook's
// contract, and tasks/ and engine/ sit above playbook/.

/** The built-in tasks, in the only order they can run. */
export const taskNames = ['version_check', 'build', 'backup', 'swap', 'restore', 'verify'] as const;
export type TaskName = (typeof taskNames)[number];

/**
 * What each task reads that only an earlier task of the same sequence provides.
 * Every task plans against the facts version_check established (the target, or
 * the previous build for a rollback); swap seals and settles the backup that
 * backup started; verify compares the restored instance with that restore.
 * build is not needed by swap: a rollback swaps onto a build already installed.
 * restore does not need swap: `memplay restore` reloads into the running instance.
 */
export const taskNeeds: { readonly [Name in TaskName]: readonly TaskName[] } = {
  version_check: [],
  build: ['version_check'],
  backup: ['version_check'],
  swap: ['version_check', 'backup'],
  restore: ['version_check'],
  verify: ['version_check', 'restore'],
};

export function isTaskName(name: string): name is TaskName {
  return (taskNames as readonly string[]).includes(name);
}

/** One misplaced task of a sequence: its index in the sequence and why. */
export interface TaskOrderProblem {
  readonly index: number;
  readonly message: string;
}

/**
 * Whether a sequence of built-in tasks can run: each at most once, in the declared
 * order, and after every task it needs. A sequence may leave tasks out.
 */
export function taskOrderProblems(sequence: readonly TaskName[]): TaskOrderProblem[] {
  const problems: TaskOrderProblem[] = [];
  const seen = new Set<TaskName>();
  let latest: TaskName | undefined;
  for (const [index, name] of sequence.entries()) {
    if (seen.has(name)) {
      problems.push({ index, message: `"${name}" is listed twice; each built-in task runs once` });
      continue;
    }
    if (latest !== undefined && taskNames.indexOf(name) < taskNames.indexOf(latest)) {
      problems.push({
        index,
        message: `"${name}" comes after "${latest}"; the built-in tasks run in the order ${taskNames.join(', ')}`,
      });
    }
    const missing = taskNeeds[name].filter((needed) => !seen.has(needed));
    if (missing.length > 0) {
      problems.push({
        index,
        message: `"${name}" needs ${missing.map((needed) => `"${needed}"`).join(' and ')} before it`,
      });
    }
    seen.add(name);
    if (latest === undefined || taskNames.indexOf(name) > taskNames.indexOf(latest)) latest = name;
  }
  return problems;
}
