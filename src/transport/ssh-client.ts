// The ssh handshake: one authenticated ssh2 client, or a HostUnreachable before
// anything was sent. Host keys are checked strictly against known_hosts before
// authentication, so nothing is ever sent to a host that cannot prove it is the one
// we know. The transport (ssh.ts) and jump hosts (jump.ts) build on this client.

import ssh2, { type ConnectConfig, type Client as Ssh2Client } from 'ssh2';

// ssh2 is CommonJS: Node's ESM loader cannot see its named exports at run time.
const { Client } = ssh2;
type Client = Ssh2Client;

import type { HostUnreachable } from '../errors.js';
import {
  acceptsAsNew,
  hostKeyRefusal,
  knownHostsFor,
  knownKeyTypes,
  preferredHostKeyAlgorithms,
  recordNewHostKey,
} from './host-key-policy.js';
import { identitiesFor } from './identities.js';
import { legacyInUse, type Negotiated, offeredAlgorithms } from './ssh-algorithms.js';
import { connectError, handshakeClosed } from './ssh-errors.js';
import type { SshOptions } from './ssh-options.js';

/** The authenticated ssh2 client under connectSsh; jump hosts use it bare, to forward through. */
export async function openSshClient(options: SshOptions): Promise<Client> {
  const { address, port, user } = options;
  const knownHosts = await knownHostsFor(options);
  const { identity, agent } = await identitiesFor(options);

  const client = new Client();
  let refusal: HostUnreachable | undefined;
  /** Set when the key is unknown and --accept-new-host-keys trusts it: recorded once the login succeeded. */
  let newHostKey: Buffer | undefined;
  const offered = offeredAlgorithms(options.legacyAlgorithms);
  const algorithms = {
    ...offered,
    serverHostKey: preferredHostKeyAlgorithms(knownKeyTypes(options, knownHosts), offered.serverHostKey),
  };
  const config: ConnectConfig = {
    host: address,
    port,
    username: user,
    readyTimeout: options.connectTimeoutMs,
    keepaliveInterval: 15_000,
    keepaliveCountMax: 4,
    ...(identity ? { privateKey: identity.key } : {}),
    ...(identity?.passphrase !== undefined ? { passphrase: identity.passphrase } : {}),
    ...(agent ? { agent } : {}),
    // ssh2 types these lists as unions of the names it knows; ours are checked against it by a test.
    algorithms: algorithms as unknown as NonNullable<ConnectConfig['algorithms']>,
    ...(options.sock ? { sock: options.sock } : {}),
    hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
      refusal = hostKeyRefusal(options, knownHosts, key);
      if (refusal?.reason === 'host-key-unknown' && acceptsAsNew(options, knownHosts)) {
        refusal = undefined;
        newHostKey = key;
      }
      verify(refusal === undefined);
    },
  };

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error & { level?: string; code?: string }) => {
      cleanup();
      // Tearing down a half-open connection makes ssh2 emit more errors ("Connection lost
      // before handshake"); unheard, they would crash the process.
      client.on('error', () => {});
      client.destroy();
      reject(refusal ?? connectError(options, error));
    };
    const onClose = () => {
      cleanup();
      reject(refusal ?? handshakeClosed(options));
    };
    const onReady = () => {
      cleanup();
      // Nagle on the controller's socket held the memcached replies of a pipelined
      // batch behind the server's delayed ACK: 40 ms stalls in 1 batch of ~30
      // through the tunnel (p99 43 ms, against 1.6 ms with it off), which made the
      // performance gate's pipelined figures noise. A no-op on a jump channel.
      client.setNoDelay(true);
      resolve();
    };
    const cleanup = () => {
      client.off('error', onError).off('close', onClose).off('ready', onReady);
    };
    client.on('error', onError).on('close', onClose).on('ready', onReady);
    const legacy = options.legacyAlgorithms ?? [];
    if (legacy.length > 0) {
      client.once('handshake', (negotiated: Negotiated) =>
        options.onLegacyAlgorithms?.({
          host: options.hostName,
          ...(options.via !== undefined && { via: options.via }),
          offered: legacy,
          inUse: legacyInUse(negotiated),
        }),
      );
    }
    try {
      client.connect(config);
    } catch (error) {
      onError(error as Error);
    }
  });

  // ssh2 asks hostVerifier before it checks the server's signature, so a key is
  // only written once the host proved it holds it (the login completed).
  if (newHostKey !== undefined) await recordNewHostKey(options, newHostKey, () => client.destroy());
  return client;
}
