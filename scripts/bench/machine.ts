import { cpus, loadavg, release, totalmem } from 'node:os';

/** What the figures were measured on: they mean little without it. */
export interface Machine {
  readonly date: string;
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly node: string;
  readonly kernel: string;
  /** 1-minute load average when the bench started: anything else running skews the figures. */
  readonly loadAverage: number;
}

export function describeMachine(): Machine {
  const cores = cpus();
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpuModel: cores[0]?.model.trim() ?? 'unknown',
    cores: cores.length,
    memoryBytes: totalmem(),
    node: process.version,
    kernel: `${process.platform} ${release()}`,
    loadAverage: loadavg()[0] ?? Number.NaN,
  };
}
