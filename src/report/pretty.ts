import { Listr, type ListrTaskWrapper } from 'listr2';
import { batchLiveRenderer } from './batch-renderer.js';
import type { PhaseTasks } from './batch-view.js';
import type { RunEvent, TaskStatus } from './events.js';
import { chooseLiveView, FleetView, type ViewChoice } from './fleet-view.js';
import {
  backupsPrunedLine,
  batchLine,
  gateLine,
  hostKeyAcceptedLine,
  legacyAlgorithmsLine,
  pauseLine,
  planDriftLine,
} from './plain.js';
import { planView } from './plan-view.js';
import { EtaEstimator, progressLine } from './progress.js';
import { formatRecap } from './recap.js';

// The live view on a TTY: a listr2 task per host, a subtask per pipeline task.
// listr2 wants to own execution, so each subtask just waits for the engine's
// event about it; the engine never knows a terminal exists. When that tree
// would not fit the terminal, a compact view (fleet-view.ts) takes its place:
// a line per host; when that does not fit either, the batch view (batch-view.ts),
// drawn without listr2.

interface Deferred {
  promise: Promise<{ status: TaskStatus; detail: string }>;
  settle(result: { status: TaskStatus; detail: string }): void;
}

function deferred(): Deferred {
  let settle!: Deferred['settle'];
  const promise = new Promise<{ status: TaskStatus; detail: string }>((resolve) => {
    settle = resolve;
  });
  return { promise, settle };
}

// biome-ignore lint/suspicious/noExplicitAny: listr2's wrapper generics are not needed here
type AnyTask = ListrTaskWrapper<any, any, any>;

export interface PrettyOptions {
  /** `--view`; auto when not given. */
  readonly view?: ViewChoice;
  /** The tasks of each phase, so the batch view can tell when a host is done with its batch. */
  readonly phases?: PhaseTasks;
}

export function prettyRenderer(
  write: (text: string) => void,
  terminal: { readonly rows?: number; readonly columns?: number } = {},
  options: PrettyOptions = {},
): {
  handle(event: RunEvent): void;
  /** A line shown beside `hosts` while they wait for their batch (the question between batches); undefined clears it. */
  note(hosts: readonly string[], text: string | undefined): void;
  /**
   * Prints a notice now (the interrupt's) above the batch view's live lines, which would
   * erase it if it were written under them; false: no batch view, the caller writes it.
   */
  say(text: string): boolean;
  finished(): Promise<void>;
} {
  const rows = terminal.rows && terminal.rows > 0 ? terminal.rows : 24;
  let compact: CompactView | undefined;
  let batches: ReturnType<typeof batchLiveRenderer> | undefined;
  const eta = new EtaEstimator();
  const slots = new Map<string, Deferred>();
  const outputs = new Map<string, AnyTask>();
  let running: Promise<unknown> = Promise.resolve();
  let recapText = '';
  const notes: string[] = [];
  const plan = planView();
  let planText = '';
  const key = (host: string, task: string) => `${host}\u0000${task}`;
  let taskNames: readonly string[] = [];
  const settled = new Set<string>();
  // The hosts a note is shown beside, and the countdown of a pause_between_batches.
  let noted: readonly string[] = [];
  let countdown: NodeJS.Timeout | undefined;

  function note(hosts: readonly string[], text: string | undefined): void {
    if (batches) {
      batches.note(text);
      return;
    }
    clearInterval(countdown);
    countdown = undefined;
    showNotes(hosts, text);
  }

  function showNotes(hosts: readonly string[], text: string | undefined): void {
    for (const host of noted) showNote(host, undefined);
    noted = text === undefined ? [] : hosts;
    for (const host of noted) showNote(host, text);
  }

  function showNote(host: string, text: string | undefined): void {
    if (compact) {
      compact.note(host, text);
      return;
    }
    // Under the task the host waits in: the first of its tasks not settled yet.
    const waitingIn = taskNames.find((task) => !settled.has(key(host, task)));
    const task = waitingIn === undefined ? undefined : outputs.get(key(host, waitingIn));
    if (task) task.output = text ?? '';
  }

  function pause(event: Extract<RunEvent, { event: 'pause' }>): void {
    const endsAt = Date.now() + event.seconds * 1000;
    const show = () => showNotes(event.hosts, pauseLine(event, (endsAt - Date.now()) / 1000));
    note([], undefined);
    show();
    countdown = setInterval(show, 1000);
    countdown.unref();
  }

  function handle(event: RunEvent): void {
    if (event.event === 'start') {
      const view = chooseLiveView(options.view ?? 'auto', event.hosts.length, event.tasks.length, rows);
      if (view === 'batches') {
        batches = batchLiveRenderer(write, {
          columns: terminal.columns && terminal.columns > 0 ? terminal.columns : 80,
          ...(options.phases ? { phases: options.phases } : {}),
        });
      } else if (view === 'per-host') {
        compact = compactView(event);
        running = compact.running;
      }
    }
    if (batches) {
      batches.handle(event);
      return;
    }
    plan.add(event);
    if (event.event === 'batch' || event.event === 'confirm' || event.event === 'recap') note([], undefined);
    if (event.event === 'pause') pause(event);
    if (event.event === 'confirm') {
      notes.push(`${batchLine(event)} — continue? ${event.answer}${event.assumed ? ' (--yes)' : ''}`);
    }
    if (compact) {
      compact.handle(event);
      // Notes (unreachable, aborted, host keys) and the recap are the same in every layout.
      if (['start', 'task-start', 'task', 'progress'].includes(event.event)) return;
    }
    switch (event.event) {
      case 'start': {
        taskNames = event.tasks;
        for (const host of event.hosts)
          for (const task of event.tasks) slots.set(key(host, task), deferred());
        const list = new Listr(
          event.hosts.map((host) => ({
            title: host,
            task: (_ctx: unknown, hostTask: AnyTask) =>
              hostTask.newListr(
                event.tasks.map((task) => ({
                  title: task,
                  task: async (_c: unknown, t: AnyTask) => {
                    outputs.set(key(host, task), t);
                    const result = await (slots.get(key(host, task)) as Deferred).promise;
                    if (result.status === 'failed') throw new Error(result.detail);
                    if (result.status === 'skipped') {
                      t.skip(`${task}: ${result.detail}`);
                      return;
                    }
                    const mark =
                      result.status === 'changed' ? (event.check ? 'would change' : 'changed') : 'ok';
                    t.title = `${task} ${mark}: ${result.detail}`;
                  },
                })),
                { concurrent: false, exitOnError: true },
              ),
          })),
          {
            concurrent: true,
            exitOnError: false,
            collectErrors: false,
            rendererOptions: { collapseSubtasks: false, collapseErrors: false, formatOutput: 'truncate' },
          },
        );
        running = list.run().catch(() => undefined);
        return;
      }
      case 'progress': {
        // backup's own progress goes on during swap's delta pass, after its task has ended:
        // listr2 throws on output for a finished task, and that would fail the host's swap.
        if (settled.has(key(event.host, event.task))) return;
        const task = outputs.get(key(event.host, event.task));
        if (task) task.output = progressLine(event, eta.estimate(event));
        return;
      }
      case 'task': {
        const slot = slots.get(key(event.host, event.task));
        settled.add(key(event.host, event.task));
        if (slot) slot.settle({ status: event.status, detail: event.detail });
        // A rollback is not in the task list: it follows the failure, as a note under the list.
        else notes.push(`${event.host} ${event.task} ${event.status}: ${event.detail}`);
        return;
      }
      case 'unreachable':
        notes.push(`${event.host} UNREACHABLE (${event.reason}): ${event.detail}`);
        for (const [slotKey, slot] of slots) {
          if (!slotKey.startsWith(`${event.host}\u0000`)) continue;
          settled.add(slotKey);
          slot.settle({ status: 'failed', detail: `unreachable: ${event.detail}` });
        }
        return;
      case 'gate':
        // Three per host, each with figures: under the list, where they are not truncated.
        notes.push(gateLine(event));
        return;
      case 'host-key-accepted':
        notes.push(hostKeyAcceptedLine(event));
        return;
      case 'ssh-legacy-algorithms':
        notes.push(legacyAlgorithmsLine(event));
        return;
      case 'aborted':
        notes.push(`ABORTED: ${event.reason}`);
        return;
      case 'plan-drift':
        notes.push(planDriftLine(event));
        return;
      case 'backups-pruned':
        notes.push(backupsPrunedLine(event));
        return;
      case 'plan-summary':
        planText = plan.lines(event).join('\n');
        return;
      case 'recap':
        for (const slot of slots.values()) slot.settle({ status: 'skipped', detail: 'not run' });
        recapText = formatRecap(event.hosts);
        if (event.interrupted) notes.push('interrupted: running steps finished, nothing new was started');
        if (event.journal) notes.push(`journal: ${event.journal}`);
        if (event.log) notes.push(`log: ${event.log}`);
        return;
      default:
        return;
    }
  }

  async function finished(): Promise<void> {
    if (batches) return batches.finished();
    await running;
    if (compact) notes.unshift(...compact.notes);
    for (const note of notes) write(`${note}\n`);
    if (planText) write(`${planText}\n`);
    if (recapText) write(`${recapText}\n`);
  }

  function say(text: string): boolean {
    batches?.say(text);
    return batches !== undefined;
  }

  return { handle, note, say, finished };
}

interface CompactView {
  readonly running: Promise<unknown>;
  /** Lines to print under the view when it is done. */
  readonly notes: string[];
  handle(event: RunEvent): void;
  /** A line beside a host waiting for its batch; undefined clears it. */
  note(host: string, text: string | undefined): void;
}

/** The line-per-host view; each listr2 task waits for its host to finish. */
function compactView(start: Extract<RunEvent, { event: 'start' }>): CompactView {
  const fleet = new FleetView(start.hosts, start.tasks.length, start.check);
  const hostDone = new Map(start.hosts.map((host) => [host, deferred()]));
  const titles = new Map<string, AnyTask>();
  const list = new Listr(
    start.hosts.map((host) => ({
      title: fleet.hostLine(host),
      task: async (_ctx: unknown, t: AnyTask) => {
        titles.set(host, t);
        t.title = fleet.hostLine(host);
        await (hostDone.get(host) as Deferred).promise;
        t.title = fleet.hostLine(host);
        if (fleet.failed(host)) throw new Error(fleet.hostLine(host));
      },
    })),
    {
      concurrent: true,
      exitOnError: false,
      collectErrors: false,
      rendererOptions: { collapseErrors: true },
    },
  );
  const running = list.run().catch(() => undefined);
  return {
    running,
    notes: [],
    note(host, text) {
      fleet.note(host, text);
      const task = titles.get(host);
      if (task) task.title = fleet.hostLine(host);
    },
    handle(event) {
      if (event.event === 'recap') {
        for (const done of hostDone.values()) done.settle({ status: 'ok', detail: '' });
        return;
      }
      const host = fleet.handle(event);
      if (host === undefined) return;
      const task = titles.get(host);
      if (task) task.title = fleet.hostLine(host);
      if (fleet.finished(host)) hostDone.get(host)?.settle({ status: 'ok', detail: '' });
    },
  };
}
