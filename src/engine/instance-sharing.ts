import { type HostConfig, hostOf } from '../playbook/types.js';
import type { HostLock } from './host-lock.js';

// What the instances of one host share in a run (hosts.<name>.instances): the
// host's lock — one file under the shared prefix, taken once for all of them so
// two runs never touch one host's build or `current` at once — and the host
// itself in the prepare phase, which they take in turn: the first builds, the
// next finds the build installed instead of building it a second time beside it.
// A host that runs one memcached shares nothing: every call passes straight through.

export class InstanceSharing {
  private readonly locks = new Map<string, { lock: Promise<HostLock>; users: number }>();
  private readonly turns = new Map<string, Promise<void>>();
  private batch: readonly HostConfig[] = [];

  /** The rolling batch now running (strategy.instances_together may put instances of one host in it). */
  startBatch(batch: readonly HostConfig[]): void {
    this.batch = batch;
  }

  /** The target's sibling instances in the batch now running: they change the host at the same time. */
  batchSiblings(target: HostConfig): readonly HostConfig[] {
    if (target.instanceOf === undefined) return [];
    return this.batch.filter((other) => other.name !== target.name && hostOf(other) === hostOf(target));
  }

  /** The host's lock for this target: taken by its first instance, released after its last. */
  async lock(target: HostConfig, take: () => Promise<HostLock>): Promise<HostLock> {
    if (target.instanceOf === undefined) return take();
    const host = hostOf(target);
    let entry = this.locks.get(host);
    if (!entry) {
      entry = { lock: take(), users: 0 };
      this.locks.set(host, entry);
    }
    const shared = entry;
    const lock = await shared.lock;
    shared.users += 1;
    if (lock.kind !== 'held') return lock;
    let released = false;
    return {
      ...lock,
      release: async () => {
        if (released) return;
        released = true;
        shared.users -= 1;
        if (shared.users === 0) await lock.release();
      },
    };
  }

  /**
   * Runs `work` once the target's earlier instances are done with theirs (in the
   * order they asked); `waited` says whether another instance went first.
   */
  async inTurn<T>(target: HostConfig, work: (waited: boolean) => Promise<T>): Promise<T> {
    if (target.instanceOf === undefined) return work(false);
    const host = hostOf(target);
    const before = this.turns.get(host);
    let done!: () => void;
    const mine = new Promise<void>((resolve) => {
      done = resolve;
    });
    this.turns.set(
      host,
      (before ?? Promise.resolve()).then(() => mine),
    );
    try {
      if (before) await before;
      return await work(before !== undefined);
    } finally {
      done();
    }
  }
}
