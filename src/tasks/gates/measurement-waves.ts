// When the performance gate's load runs, host by host. The load is driven from the
// controller through each host's SSH connection, so what it measures includes the
// controller's own CPU: two hosts measured at once each see the other's load. It
// used to run one host at a time across the whole run, which is fair but costs
// 2 × ~1 s per host in a row: ~1000 s of rounds for 500 hosts.
//
// Now the hosts of one rolling batch are measured together, in waves: a wave takes
// every measurement asked for while it forms, and starts once as many have joined
// as its members wait for (or `gatherMs` after the first, for hosts that are slower
// to get there or failed before), all of them at the same instant. Waves still run
// one at a time, so the load of another batch, or of a wave still running, is never
// measured. Both sides of a host are thus measured beside about the same number of
// hosts doing the same load (the batch's old sides before their stops, the new
// sides after their restores), which keeps the before/after comparison fair; a
// batch of one (serial 1) is measured alone on both sides, as before, and starts
// at once. Each measurement learns how many ran beside it, for the gate's report.

export interface WaveClock {
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realClock: WaveClock = {
  setTimeout: (run, ms) => setTimeout(run, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface WaveResult<T> {
  readonly result: T;
  /** How many measurements ran in the same wave, this one included. */
  readonly waveSize: number;
}

interface Member {
  readonly work: () => Promise<unknown>;
  readonly resolve: (value: WaveResult<unknown>) => void;
  readonly reject: (error: unknown) => void;
}

interface FormingWave {
  readonly members: Member[];
  /** The most hosts any member's batch has: the wave starts when that many joined. */
  expected: number;
  timer?: unknown;
}

export class MeasurementWaves {
  private running = false;
  private forming: FormingWave | undefined;

  constructor(
    private readonly gatherMs: number,
    private readonly clock: WaveClock = realClock,
  ) {}

  /** Runs `work` in the next wave; `batchHosts` is how many hosts the caller's batch has. */
  join<T>(batchHosts: number, work: () => Promise<T>): Promise<WaveResult<T>> {
    return new Promise<WaveResult<T>>((resolve, reject) => {
      const wave = this.forming ?? { members: [], expected: 0 };
      this.forming = wave;
      wave.members.push({ work, resolve: resolve as Member['resolve'], reject });
      wave.expected = Math.max(wave.expected, batchHosts);
      this.startWhenReady();
    });
  }

  private startWhenReady(): void {
    const wave = this.forming;
    if (!wave || this.running) return;
    if (wave.members.length >= wave.expected) {
      this.start(wave);
      return;
    }
    // The first to arrive (or the first left waiting by a wave that just ended) waits for the others, at most gatherMs.
    wave.timer ??= this.clock.setTimeout(() => {
      if (this.forming === wave && !this.running) this.start(wave);
    }, this.gatherMs);
  }

  private start(wave: FormingWave): void {
    if (wave.timer !== undefined) this.clock.clearTimeout(wave.timer);
    this.forming = undefined;
    this.running = true;
    const waveSize = wave.members.length;
    const all = wave.members.map(async (member) => {
      try {
        member.resolve({ result: await member.work(), waveSize });
      } catch (error) {
        member.reject(error);
      }
    });
    void Promise.all(all).then(() => {
      this.running = false;
      this.startWhenReady();
    });
  }
}
