import type { Transport } from '../transport/transport.js';
import { queryMemcached } from './memcached-port.js';

const pollIntervalMs = 50;

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
    const version = await queryMemcached(transport, port, (client) => client.version(), 1000);
    if (accept(version)) return { accepted: true, version };
    if (Date.now() >= deadline) return { accepted: false, version };
    await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
  }
}
