import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LabHost } from '../../test/lab/index.js';
import { CpuAccount, cpuBetween } from '../bench/cpu-account.js';
import type { TaskSpan } from './memplay.js';

// One side of the upgrade comparison with its CPU time counted (cpu-account.ts):
// the tool, the hosts' sshd listeners and memcached, and all they start.

export interface SideCpu {
  /** CPU seconds the whole side cost the machine. */
  readonly totalS: number;
  /** memplay only: CPU seconds while each task ran on some host (the union of its spans). */
  readonly byTask?: Readonly<Record<string, number>>;
}

/** The pid a pidfile holds, or undefined when there is none. */
export async function pidIn(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Runs `side` with its CPU counted; `cpu` is undefined where cgroup v2 is not writable. */
export async function withSideCpu<T>(
  name: string,
  hosts: readonly LabHost[],
  side: (cgroupProcs: string | undefined) => Promise<T>,
  spansOf?: (result: T) => readonly TaskSpan[],
): Promise<{ result: T; cpu?: SideCpu }> {
  const account = await CpuAccount.open(name);
  if (!account) return { result: await side(undefined) };
  try {
    const pids = await Promise.all(
      hosts.flatMap((h) => [pidIn(join(h.sshdDir, 'sshd.pid')), pidIn(h.pidfile)]),
    );
    await account.adopt(pids.filter((pid): pid is number => pid !== undefined));
    account.startSampling();
    const result = await side(account.procsFile);
    await account.stopSampling();
    const first = account.samples[0];
    const last = account.samples[account.samples.length - 1];
    const totalS = first && last ? last.usedS - first.usedS : 0;
    const spans = spansOf?.(result);
    return { result, cpu: { totalS, ...(spans && { byTask: cpuByTask(account.samples, spans) }) } };
  } finally {
    await account.close();
  }
}

export function cpuByTask(
  samples: CpuAccount['samples'],
  spans: readonly TaskSpan[],
): Record<string, number> {
  const byTask: Record<string, number> = {};
  for (const task of new Set(spans.map((s) => s.task))) {
    // The union of the task's spans: the prepare phase runs one on every host at once.
    const merged: Array<{ fromMs: number; toMs: number }> = [];
    for (const span of spans.filter((s) => s.task === task).sort((a, b) => a.fromMs - b.fromMs)) {
      const tail = merged[merged.length - 1];
      if (tail && span.fromMs <= tail.toMs) tail.toMs = Math.max(tail.toMs, span.toMs);
      else merged.push({ fromMs: span.fromMs, toMs: span.toMs });
    }
    byTask[task] = merged.reduce((sum, m) => sum + cpuBetween(samples, m.fromMs, m.toMs), 0);
  }
  return byTask;
}
