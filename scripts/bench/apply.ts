import { join } from 'node:path';
import { runProgram } from './process.js';

// `memplay apply --output json` as a user runs it, read back from its events.

export interface TaskResult {
  readonly task: string;
  readonly status: string;
  readonly detail: string;
  readonly durationMs: number;
  /** swap and restore: the event's swap_mode and out_of_service_ms. */
  readonly swapMode?: string;
  readonly outOfServiceMs?: number;
}

export interface ApplyRun {
  readonly exitCode: number | null;
  readonly wallMs: number;
  /** The host's task events, in the order they ended. */
  readonly tasks: readonly TaskResult[];
  /** From the restore detail: "out of service N ms". */
  readonly outOfServiceMs: number | null;
  /** The host's recap out_of_service_ms: warm until proven, cold until restored. */
  readonly hostOutOfServiceMs: number | null;
  readonly stderr: string;
}

interface TaskEvent {
  readonly event: string;
  readonly host?: string;
  readonly task?: string;
  readonly status?: string;
  readonly detail?: string;
  readonly duration_ms?: number;
  readonly swap_mode?: string;
  readonly out_of_service_ms?: number;
  readonly hosts?: Record<string, { out_of_service_ms?: number }>;
}

export async function applyPlaybook(
  repoRoot: string,
  playbook: string,
  hostName: string,
  timeoutMs = 180_000,
): Promise<ApplyRun> {
  const finished = await runProgram(
    process.execPath,
    [join(repoRoot, 'bin', 'memplay.js'), 'apply', playbook, '--output', 'json'],
    { cwd: repoRoot, timeoutMs },
  );
  const tasks: TaskResult[] = [];
  let hostOutOfServiceMs: number | null = null;
  for (const line of finished.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const event = JSON.parse(line) as TaskEvent;
    if (event.event === 'recap') hostOutOfServiceMs = event.hosts?.[hostName]?.out_of_service_ms ?? null;
    if (event.event !== 'task' || event.host !== hostName) continue;
    tasks.push({
      task: event.task ?? '?',
      status: event.status ?? '?',
      detail: event.detail ?? '',
      durationMs: event.duration_ms ?? Number.NaN,
      ...(event.swap_mode !== undefined && { swapMode: event.swap_mode }),
      ...(event.out_of_service_ms !== undefined && { outOfServiceMs: event.out_of_service_ms }),
    });
  }
  const restore = tasks.find((t) => t.task === 'restore');
  const outOfService = restore?.detail.match(/out of service (\d+) ms/);
  return {
    exitCode: finished.code,
    wallMs: finished.wallMs,
    tasks,
    outOfServiceMs: outOfService ? Number(outOfService[1]) : null,
    hostOutOfServiceMs,
    stderr: finished.stderr,
  };
}
