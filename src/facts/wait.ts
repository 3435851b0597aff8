import { MemcachedTlsError } from '../memcached/tls-stream.js';
import type { Transport } from '../transport/transport.js';
import { queryMemcached } from './memcached-port.js';

const pollIntervalMs = 50;
/** What a port that answers, but not in TLS, counts as while waiting for it to go quiet. */
const notTls = 'something that does not speak TLS';

/**
 * Polls the memcached port until `accept(version)` holds (version is null when nothing
 * answers). Resolves with the last version seen and whether it was accepted in time.
 */
export async function waitForPort(
  transport: Transport,
  port: number,
  accept: (version: string | null) => boolean,
  timeoutMs: number,
): Promise<{ accepted: boolean; version: string | null }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const version = await queryMemcached(transport, port, (client) => client.version(), 1000).catch(
      (error: unknown) => {
        // Waiting for the port to go quiet, a memcached answering in plain text where TLS
        // is expected has not gone quiet; waiting for an instance to come up, it is an error.
        if (error instanceof MemcachedTlsError && accept(null)) return notTls;
        throw error;
      },
    );
    if (accept(version)) return { accepted: true, version };
    if (Date.now() >= deadline) return { accepted: false, version };
    await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
  }
}

const wakeIntervalMs = 50;

/**
 * Connects to the port (and hangs up) every 50 ms until `stopping` settles.
 * memcached 1.6 looks at a stop signal (SIGTERM, SIGUSR1) only when its main
 * event loop wakes — on its one-second clock tick or on a new connection
 * (memcached.c: `while (!stop_main_loop) event_base_loop(main_base,
 * EVLOOP_ONCE)`, the same in 1.6.18 and 1.6.38; traced: exit_group 232 ms after
 * SIGTERM, the rest of that tick). A connection right after the signal makes
 * it exit at once: up to a second off the out-of-service window of every swap.
 */
export async function wakeWhileStopping(
  transport: Transport,
  port: number,
  stopping: Promise<unknown>,
): Promise<void> {
  let settled = false;
  const done = stopping.then(
    () => {
      settled = true;
    },
    () => {
      settled = true;
    },
  );
  while (!settled) {
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, wakeIntervalMs))]);
    if (settled) return;
    try {
      const stream = await transport.openTcp(port);
      stream.destroy();
    } catch {
      // Refused: nothing listens any more. A lost connection is the stop command's to report.
    }
  }
}
