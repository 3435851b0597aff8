import { closeHostRun, dropHostWork } from './host-run-view.js';
import type { RunContext } from './run-context.js';

/**
 * A host's part in the run is over: its lock is released, a backup it started
 * and never sealed is dropped, what its tasks held for each other is let go of
 * (dropHostWork), and its connection is closed — once, whether its
 * last phase just ended or the run is ending. Its run state stays for the
 * recap. Before, every host's connection (and what its tasks held through it)
 * stayed open until the whole fleet was done, so a run's controller memory grew
 * with every host it finished.
 */
export function releaseHost(ctx: Pick<RunContext, 'fleet'>, host: string): Promise<void> {
  return ctx.fleet.close(host, async (connected) => {
    await closeHostRun(connected.run, connected.hostLock);
    try {
      dropHostWork(connected.run);
    } catch {
      // Closing sockets the host's connection is about to take down anyway: a
      // failure here must not turn the host's finished run into a failed one.
    }
    await connected.transport.close().catch(() => {});
  });
}
