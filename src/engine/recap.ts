import type { EventSink, HostRecap, TaskStatus } from '../report/events.js';
import type { AnyTaskModule, EventTaskName, HostRun, PlanAction, TaskFigures } from '../tasks/task.js';
import { backupInUse, recapFieldsOf, swapFields } from './host-run-view.js';
import type { Journal } from './journal.js';
import type { HostPlanResult } from './plan-summary.js';

/** What the recap needs to know of a connected host when it records one of its tasks. */
export interface RecordedHost {
  readonly run?: HostRun;
  /** Where the host is taken and what it runs (version_check's event carries both). */
  readonly versions?: { readonly target_version: string; readonly running_version: string | null };
}

export interface RecordOptions {
  /** --check, a task that would change the host: its concrete steps. */
  readonly actions?: readonly PlanAction[];
  readonly figures?: TaskFigures;
}

/**
 * A run's account of every host: each task result goes through `task` (which
 * counts it, journals it and emits its event), so the recap, the journal and
 * the events cannot disagree. Also keeps what --check's fleet summary needs:
 * each host's planned actions and first failure.
 */
export class RunRecap {
  readonly hosts: Record<string, HostRecap> = {};
  private readonly firstFailures = new Map<string, { readonly task: string; readonly detail: string }>();
  private readonly plannedActions = new Map<string, PlanAction[]>();

  constructor(
    hostNames: readonly string[],
    private readonly out: {
      readonly emit: EventSink;
      readonly journal: Journal | undefined;
      readonly check: boolean;
      readonly hostView: (host: string) => RecordedHost;
    },
  ) {
    for (const host of hostNames) {
      this.hosts[host] = { ok: 0, changed: 0, failed: 0, skipped: 0, unreachable: false };
      this.plannedActions.set(host, []);
    }
  }

  private counts(host: string): HostRecap {
    return this.hosts[host] as HostRecap;
  }

  task(
    host: string,
    task: { readonly name: EventTaskName },
    status: TaskStatus,
    detail: string,
    startedAt: number,
    more: RecordOptions = {},
  ): void {
    const { actions, figures } = more;
    this.counts(host)[status] += 1;
    if (status === 'failed' && !this.firstFailures.has(host)) {
      this.firstFailures.set(host, { task: task.name, detail });
    }
    if (actions) this.plannedActions.get(host)?.push(...actions);
    const { run, versions } = this.out.hostView(host);
    const backup = backupInUse(run);
    this.out.journal?.append({
      entry: 'task',
      host,
      task: task.name,
      status,
      detail,
      ...(backup ? { backup } : {}),
    });
    this.out.emit({
      event: 'task',
      host,
      task: task.name,
      status,
      detail,
      check: this.out.check,
      duration_ms: Date.now() - startedAt,
      ...(actions ? { actions } : {}),
      ...(run && (task.name === 'swap' || task.name === 'restore') ? swapFields(run) : {}),
      ...figures,
      ...(task.name === 'version_check' ? versions : {}),
    });
  }

  skip(host: string, tasks: readonly AnyTaskModule[], detail: string): void {
    for (const task of tasks) this.task(host, task, 'skipped', detail, Date.now());
  }

  markUnreachable(host: string): void {
    this.counts(host).unreachable = true;
  }

  hasFailed(host: string): boolean {
    return this.counts(host).failed > 0;
  }

  pruned(host: string, count: number, bytes: number): void {
    const counts = this.counts(host);
    counts.pruned_backups = count;
    counts.pruned_bytes = bytes;
  }

  /** The run's own figures of a host (swap path, out-of-service time, what was left out), once it ended. */
  addRunFields(host: string, run: HostRun): void {
    Object.assign(this.counts(host), recapFieldsOf(run));
  }

  /** --check: each host's outcome and planned actions, for summarizePlans. */
  planResults(hostNames: readonly string[]): HostPlanResult[] {
    return hostNames.map((host): HostPlanResult => {
      const counts = this.counts(host);
      const outcome = counts.unreachable
        ? 'unreachable'
        : counts.failed > 0
          ? 'failed'
          : counts.changed > 0
            ? 'changed'
            : 'ok';
      const failure = this.firstFailures.get(host);
      return {
        host,
        outcome,
        actions: this.plannedActions.get(host) ?? [],
        ...(outcome === 'failed' && failure ? { failure } : {}),
      };
    });
  }
}
