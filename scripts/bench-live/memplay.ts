import { join } from 'node:path';
import type { HostRecap, RunEvent } from '../../src/report/events.js';
import { runProgram } from '../bench/process.js';

// `memplay apply --output json` as a user runs it, read back for what the live
// bench judges: each host's recap entry whole (out_of_service_ms, swap_mode,
// possibly_stale) and its swap event, which says why a host took another path
// than the playbook asked for (a warm restart that fell back to cold).

type TaskEvent = Extract<RunEvent, { event: 'task' }>;
type RecapEvent = Extract<RunEvent, { event: 'recap' }>;

export interface SwapTaken {
  readonly detail: string;
  readonly reason: string | null;
}

export interface LiveApply {
  readonly exitCode: number | null;
  readonly recap: Readonly<Record<string, HostRecap>>;
  readonly swaps: ReadonlyMap<string, SwapTaken>;
  /** A non-zero exit, failed tasks, unreachable hosts: memplay's, so a MISS, not a broken bench. */
  readonly failures: readonly string[];
}

export async function applyLive(repoRoot: string, playbook: string, timeoutMs: number): Promise<LiveApply> {
  const finished = await runProgram(
    join(repoRoot, 'bin', 'memplay.js'),
    ['apply', playbook, '--output', 'json', '--forks', '1'],
    { cwd: repoRoot, timeoutMs },
  );
  let recap: RecapEvent | undefined;
  const swaps = new Map<string, SwapTaken>();
  const failures: string[] = [];
  for (const line of finished.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const event = JSON.parse(line) as RunEvent;
    if (event.event === 'recap') recap = event;
    if (event.event === 'unreachable') failures.push(`${event.host} unreachable: ${event.detail}`);
    if (event.event !== 'task') continue;
    const task: TaskEvent = event;
    if (task.status === 'failed') failures.push(`${task.host} ${task.task}: ${task.detail}`);
    if (task.task === 'swap') swaps.set(task.host, { detail: task.detail, reason: task.swap_reason ?? null });
  }
  if (!recap) {
    throw new Error(
      `memplay apply ${playbook} exited ${finished.code} without a recap\n${finished.stderr.trim().slice(-2000)}`,
    );
  }
  if (finished.code !== 0) {
    const stderr = finished.stderr.trim().slice(-1000);
    failures.push(`memplay apply exited ${finished.code}${stderr ? `: ${stderr}` : ''}`);
  }
  return { exitCode: finished.code, recap: recap.hosts, swaps, failures };
}
