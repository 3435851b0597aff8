import { MemcachedAuthError } from '../memcached/ascii-auth.js';
import { MetaClient } from '../memcached/meta-client.js';
import { MemcachedTlsError } from '../memcached/tls-stream.js';
import type { Transport } from '../transport/transport.js';

/**
 * Opens one connection to the host-local memcached port through the host's transport
 * and runs one exchange. Null when nothing answers (refused, closed, or no reply in time):
 * for a probe, "not serving" is a fact, not an error. Refused credentials are an error.
 */
export async function queryMemcached<T>(
  transport: Transport,
  port: number,
  exchange: (client: MetaClient) => Promise<T>,
  timeoutMs = 3000,
): Promise<T | null> {
  let client: MetaClient | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    client = await MetaClient.connect(() => transport.openTcp(port), { connections: 1 });
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), timeoutMs);
    });
    return await Promise.race([exchange(client), timeout]);
  } catch (error) {
    // Refused credentials, or a TLS port that serves plain text or an unknown
    // certificate, are not "nothing serves": treating them so would stop a running instance.
    if (error instanceof MemcachedAuthError || error instanceof MemcachedTlsError) throw error;
    return null;
  } finally {
    if (timer) clearTimeout(timer);
    client?.close();
  }
}
