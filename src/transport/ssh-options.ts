// What one ssh connection is told: where, as whom, which keys to trust. Shared by
// the handshake (ssh-client.ts), its host-key policy and identity loading, and the
// transport on top, so none of them imports another only for these shapes.

import type { Duplex } from 'node:stream';
import type { TransportHooks } from './command-events.js';

export interface SshOptions extends TransportHooks {
  /** The inventory name, used in every message. */
  readonly hostName: string;
  readonly address: string;
  readonly port: number;
  readonly user: string;
  /** Absent means ssh-agent only. */
  readonly identityFile?: string;
  /** The first user known_hosts file: searched, and the only one --accept-new-host-keys writes to. */
  readonly knownHostsFile: string;
  /** The other known_hosts files OpenSSH would read (user, then global): searched, never written. */
  readonly otherKnownHostsFiles?: readonly string[];
  readonly connectTimeoutMs: number;
  /** Defaults to `$SSH_AUTH_SOCK`. */
  readonly agentSocket?: string;
  /** For an encrypted identity file; defaults to `$MEMPLAY_SSH_PASSPHRASE`. */
  readonly passphrase?: string;
  /** sshd's MaxSessions defaults to 10 and the SFTP session needs one; beyond this, commands queue. */
  readonly maxConcurrentCommands?: number;
  /** Trust a host with no key in known_hosts and append its key there (never a changed key). */
  readonly acceptNewHostKeys?: boolean;
  /** Called once a new host key was appended to known_hosts. */
  readonly onHostKeyAccepted?: (accepted: AcceptedHostKey) => void;
  /** A channel through a jump host to speak ssh over, instead of a TCP connection of our own. */
  readonly sock?: Duplex;
  /** The jump host `sock` goes through, for messages. */
  readonly via?: string;
  /** Weak algorithms the playbook allows (ssh.legacy_algorithms), offered after OpenSSH's defaults. */
  readonly legacyAlgorithms?: readonly string[];
  /** Called after the key exchange of a connection that offered legacy algorithms. */
  readonly onLegacyAlgorithms?: (warning: LegacyAlgorithmsOffered) => void;
  /** The ssh config's HostKeyAlias: known_hosts is searched for this name instead of `[address]:port`. */
  readonly hostKeyAlias?: string;
  /** Where the ssh config placed the host; added to messages about reaching it. */
  readonly configNote?: string;
}

export interface LegacyAlgorithmsOffered {
  readonly host: string;
  /** The jump host the connection went through, if any. */
  readonly via?: string;
  /** What the playbook allowed besides the defaults. */
  readonly offered: readonly string[];
  /** The ones the key exchange settled on: empty when the server chose strong ones anyway. */
  readonly inUse: readonly string[];
}

export interface AcceptedHostKey {
  readonly host: string;
  /** `[addr]:port` as written to the file. */
  readonly name: string;
  readonly knownHostsFile: string;
  readonly keyType: string;
  /** `SHA256:…` as ssh-keygen -l prints it. */
  readonly fingerprint: string;
}
