import { Listr, type ListrTaskWrapper } from 'listr2';
import type { RunEvent, TaskStatus } from './events.js';
import { hostKeyAcceptedLine } from './plain.js';
import { planView } from './plan-view.js';
import { formatRecap } from './recap.js';

// The live view on a TTY: a listr2 task per host, a subtask per pipeline task.
// listr2 wants to own execution, so each subtask just waits for the engine's
// event about it; the engine never knows a terminal exists.

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

export function prettyRenderer(write: (text: string) => void): {
  handle(event: RunEvent): void;
  finished(): Promise<void>;
} {
  const slots = new Map<string, Deferred>();
  const outputs = new Map<string, AnyTask>();
  let running: Promise<unknown> = Promise.resolve();
  let recapText = '';
  const notes: string[] = [];
  const plan = planView();
  let planText = '';
  const key = (host: string, task: string) => `${host}\u0000${task}`;

  function handle(event: RunEvent): void {
    plan.add(event);
    switch (event.event) {
      case 'start': {
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
        const task = outputs.get(key(event.host, event.task));
        if (task) task.output = event.message;
        return;
      }
      case 'task': {
        const slot = slots.get(key(event.host, event.task));
        if (slot) slot.settle({ status: event.status, detail: event.detail });
        // A rollback is not in the task list: it follows the failure, as a note under the list.
        else notes.push(`${event.host} ${event.task} ${event.status}: ${event.detail}`);
        return;
      }
      case 'unreachable':
        notes.push(`${event.host} UNREACHABLE (${event.reason}): ${event.detail}`);
        for (const [slotKey, slot] of slots) {
          if (slotKey.startsWith(`${event.host}\u0000`))
            slot.settle({ status: 'failed', detail: `unreachable: ${event.detail}` });
        }
        return;
      case 'host-key-accepted':
        notes.push(hostKeyAcceptedLine(event));
        return;
      case 'aborted':
        notes.push(`ABORTED: ${event.reason}`);
        return;
      case 'plan-summary':
        planText = plan.lines(event).join('\n');
        return;
      case 'recap':
        for (const slot of slots.values()) slot.settle({ status: 'skipped', detail: 'not run' });
        recapText = formatRecap(event.hosts);
        if (event.interrupted) notes.push('interrupted: running steps finished, nothing new was started');
        if (event.journal) notes.push(`journal: ${event.journal}`);
        return;
      default:
        return;
    }
  }

  async function finished(): Promise<void> {
    await running;
    for (const note of notes) write(`${note}\n`);
    if (planText) write(`${planText}\n`);
    if (recapText) write(`${recapText}\n`);
  }

  return { handle, finished };
}
