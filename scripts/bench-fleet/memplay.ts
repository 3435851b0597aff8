import { join } from 'node:path';
import type { Lab } from '../../test/lab/index.js';
import { runProgram } from '../bench/process.js';

// `memplay apply` over a lab fleet as a user runs it (bin/memplay.js, so its
// shebang's Node flags apply), read back from its JSON events.

export interface HostOutcome {
  readonly ok: number;
  readonly changed: number;
  readonly failed: number;
  readonly skipped: number;
  readonly unreachable: boolean;
}

export interface MemplayRun {
  readonly wallMs: number;
  readonly exitCode: number | null;
  readonly hosts: Readonly<Record<string, HostOutcome>>;
  /** From the recap event: the kernel's max RSS of the memplay process. */
  readonly peakRssBytes: number;
  /** Per host, from its restore detail: "out of service N ms". */
  readonly outOfServiceMs: ReadonlyMap<string, number>;
  /** Failed task details, for the error message. */
  readonly failures: readonly string[];
  /** Per host, each task's duration_ms: where the wall time went. */
  readonly taskMs: ReadonlyMap<string, Readonly<Record<string, number>>>;
  /** Every task's span in wall-clock ms (its event's ts less its duration_ms, to its ts). */
  readonly taskSpans: readonly TaskSpan[];
  /** The detail of every host's applied build task: says whether it compiled or received the tree. */
  readonly buildDetails: readonly string[];
  readonly stderr: string;
}

export interface TaskSpan {
  readonly host: string;
  readonly task: string;
  readonly fromMs: number;
  readonly toMs: number;
}

interface Event {
  readonly event: string;
  readonly ts?: string;
  readonly host?: string;
  readonly task?: string;
  readonly status?: string;
  readonly detail?: string;
  readonly hosts?: Record<string, HostOutcome>;
  readonly controller_peak_rss_bytes?: number;
  readonly duration_ms?: number;
}

export async function memplayApply(
  lab: Lab,
  playbook: string,
  options: {
    check?: boolean;
    forks: number;
    timeoutMs?: number;
    env?: NodeJS.ProcessEnv;
    cgroupProcs?: string;
    /** Node flags for a profiling run (e.g. `--cpu-prof`): memplay then runs as `node <flags> bin/memplay.js`, without its shebang's flags. */
    nodeFlags?: readonly string[];
  },
): Promise<MemplayRun> {
  const args = ['apply', playbook, '--output', 'json', '--forks', String(options.forks)];
  if (options.check) args.push('--check');
  const bin = join(lab.repoRoot, 'bin', 'memplay.js');
  const [file, argv] = options.nodeFlags
    ? [process.execPath, [...options.nodeFlags, bin, ...args]]
    : [bin, args];
  const finished = await runProgram(file, argv, {
    cwd: lab.repoRoot,
    timeoutMs: options.timeoutMs ?? 900_000,
    ...(options.cgroupProcs && { cgroupProcs: options.cgroupProcs }),
    ...(options.env && { env: options.env }),
  });
  let recap: Event | undefined;
  const outOfServiceMs = new Map<string, number>();
  const failures: string[] = [];
  const taskMs = new Map<string, Record<string, number>>();
  const buildDetails: string[] = [];
  const taskSpans: TaskSpan[] = [];
  for (const line of finished.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const event = JSON.parse(line) as Event;
    if (event.event === 'recap') recap = event;
    if (event.event !== 'task' || !event.host) continue;
    if (event.task && event.duration_ms !== undefined) {
      taskMs.set(event.host, { ...taskMs.get(event.host), [event.task]: event.duration_ms });
      const toMs = Date.parse(event.ts ?? '');
      if (Number.isFinite(toMs)) {
        taskSpans.push({ host: event.host, task: event.task, fromMs: toMs - event.duration_ms, toMs });
      }
    }
    if (event.status === 'failed') failures.push(`${event.host} ${event.task}: ${event.detail}`);
    if (event.task === 'build' && event.status === 'changed' && event.detail) buildDetails.push(event.detail);
    const window = event.task === 'restore' ? event.detail?.match(/out of service (\d+) ms/) : null;
    if (window) outOfServiceMs.set(event.host, Number(window[1]));
  }
  if (recap?.controller_peak_rss_bytes === undefined || !recap.hosts) {
    throw new Error(
      `memplay apply ${playbook} exited ${finished.code} without a recap\n${finished.stderr.trim().slice(-2000)}`,
    );
  }
  return {
    wallMs: finished.wallMs,
    exitCode: finished.code,
    hosts: recap.hosts,
    peakRssBytes: recap.controller_peak_rss_bytes,
    outOfServiceMs,
    failures,
    taskMs,
    taskSpans,
    buildDetails,
    stderr: finished.stderr,
  };
}

/** Throws unless memplay exited 0 with every host reached and nothing failed. */
export function expectMemplayOk(run: MemplayRun, what: string): void {
  const bad = Object.entries(run.hosts).filter(([, r]) => r.failed > 0 || r.unreachable);
  if (run.exitCode !== 0 || bad.length > 0) {
    throw new Error(
      `${what}: memplay exited ${run.exitCode}; hosts not ok: ${bad.map(([name]) => name).join(', ') || 'none'}\n${[...run.failures, run.stderr.trim().slice(-1500)].join('\n')}`,
    );
  }
}
