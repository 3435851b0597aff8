import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

// The CPU time one tool's run costs the machine: its own process, the lab
// hosts' sshd and memcached, and everything they start (shells, the compiler),
// counted by a cgroup v2 group they are all put in. Exact for processes that
// have already exited (a compile's cc1), and untouched by whatever else the
// machine runs at the time: a wall time on a shared 2-core machine says little,
// a CPU time says how much work a run is. Read every 100 ms, it also says
// where in the run the work went (cpuBetween).

const unified = '/sys/fs/cgroup/unified';

export interface CpuSample {
  /** Date.now() of the reading: memplay's events carry wall-clock timestamps. */
  readonly atMs: number;
  /** CPU seconds the group has used since it was made. */
  readonly usedS: number;
}

export class CpuAccount {
  readonly samples: CpuSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;

  private constructor(readonly dir: string) {}

  /** A fresh group, or undefined where cgroup v2 is not writable here (the figures are then "not measured"). */
  static async open(name: string): Promise<CpuAccount | undefined> {
    const dir = join(unified, `memplay-bench-${name}-${process.pid}`);
    try {
      await mkdir(dir);
      return new CpuAccount(dir);
    } catch {
      return undefined;
    }
  }

  /** The file a process writes its pid to, to join the group (runProgram's cgroupProcs). */
  get procsFile(): string {
    return join(this.dir, 'cgroup.procs');
  }

  /** Moves running processes in; what they start from now on is counted with them. */
  async adopt(pids: readonly number[]): Promise<void> {
    for (const pid of pids) await writeFile(this.procsFile, `${pid}\n`);
  }

  async usedS(): Promise<number> {
    const stat = await readFile(join(this.dir, 'cpu.stat'), 'utf8');
    const match = stat.match(/^usage_usec (\d+)$/m);
    if (!match) throw new Error(`${this.dir}/cpu.stat has no usage_usec`);
    return Number(match[1]) / 1e6;
  }

  startSampling(intervalMs = 100): void {
    void this.sample();
    this.timer = setInterval(() => void this.sample(), intervalMs);
  }

  async stopSampling(): Promise<void> {
    clearInterval(this.timer);
    await this.reading;
    await this.sample();
  }

  /** One reading at a time, so samples stay in time order (cpuBetween relies on it). */
  private sample(): Promise<void> {
    if (this.reading) return this.reading;
    this.reading = this.usedS()
      .then((usedS) => {
        this.samples.push({ atMs: Date.now(), usedS });
      })
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }

  /** Puts every process back in the root group and removes this one. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    const pids = (await readFile(this.procsFile, 'utf8')).split('\n').filter(Boolean);
    for (const pid of pids) {
      // A process may exit meanwhile.
      await writeFile(join(unified, 'cgroup.procs'), `${pid}\n`).catch(() => undefined);
    }
    await rmdir(this.dir).catch(() => undefined);
  }
}

/** CPU seconds used between two wall-clock times, read off the samples (linear between readings). */
export function cpuBetween(samples: readonly CpuSample[], fromMs: number, toMs: number): number {
  return usedAt(samples, toMs) - usedAt(samples, fromMs);
}

function usedAt(samples: readonly CpuSample[], atMs: number): number {
  const first = samples[0];
  const last = samples[samples.length - 1];
  if (!first || !last) return 0;
  if (atMs <= first.atMs) return first.usedS;
  if (atMs >= last.atMs) return last.usedS;
  let i = 1;
  while ((samples[i]?.atMs ?? Number.POSITIVE_INFINITY) < atMs) i++;
  const a = samples[i - 1] as CpuSample;
  const b = samples[i] as CpuSample;
  const span = b.atMs - a.atMs;
  return span <= 0 ? b.usedS : a.usedS + ((b.usedS - a.usedS) * (atMs - a.atMs)) / span;
}
