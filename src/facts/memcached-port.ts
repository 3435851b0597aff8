import { TextClient } from '../memcached/text-client.js';
import type { Transport } from '../transport/transport.js';

/**
 * Opens a connection to the host-local memcached port through the host's transport
 * and runs one exchange. Null when nothing answers (refused, closed, or no reply in time):
 * for a probe, "not serving" is a fact, not an error.
 */
export async function queryMemcached<T>(
  transport: Transport,
  port: number,
  exchange: (client: TextClient) => Promise<T>,
  timeoutMs = 3000,
): Promise<T | null> {
  let client: TextClient | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    const stream = await transport.openTcp(port);
    client = new TextClient(stream);
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    });
    return await Promise.race([exchange(client), timeout]);
  } catch {
    return null;
  } finally {
    if (timer) clearTimeout(timer);
    client?.close();
  }
}
