// How an ssh connection authenticates: the identity file (decrypted with
// MEMPLAY_SSH_PASSPHRASE when needed) and/or ssh-agent. A key that cannot be used is
// refused here, before any connection, with the setting to fix.

import { readFile } from 'node:fs/promises';
import ssh2 from 'ssh2';
import { HostUnreachable } from '../errors.js';
import type { SshOptions } from './ssh-options.js';

// ssh2 is CommonJS: Node's ESM loader cannot see its named exports at run time.
const { utils } = ssh2;

export interface Identities {
  /** The identity file's key, with its passphrase when encrypted. */
  readonly identity?: { key: Buffer; passphrase?: string };
  /** The ssh-agent socket. */
  readonly agent?: string;
}

/** The identity file and agent to offer; throws when neither can be used. */
export async function identitiesFor(options: SshOptions): Promise<Identities> {
  const identity = await readIdentity(options);
  const agent = options.agentSocket ?? process.env.SSH_AUTH_SOCK;
  if (identity === undefined && !agent) {
    throw new HostUnreachable(
      options.hostName,
      'auth',
      `no way to authenticate as ${options.user}: ssh.identity_file is not set and SSH_AUTH_SOCK is empty; ` +
        `set ssh.identity_file or start ssh-agent`,
    );
  }
  return { ...(identity ? { identity } : {}), ...(agent ? { agent } : {}) };
}

async function readIdentity(options: SshOptions): Promise<{ key: Buffer; passphrase?: string } | undefined> {
  const { identityFile, hostName } = options;
  if (identityFile === undefined) return undefined;
  let key: Buffer;
  try {
    key = await readFile(identityFile);
  } catch (error) {
    throw new HostUnreachable(
      hostName,
      'auth',
      `cannot read identity file ${identityFile}: ${(error as Error).message}; check ssh.identity_file`,
    );
  }
  const passphrase = options.passphrase ?? process.env.MEMPLAY_SSH_PASSPHRASE;
  const parsed = utils.parseKey(key, passphrase);
  if (parsed instanceof Error) {
    const encrypted = /passphrase|encrypted|decrypt/i.test(parsed.message);
    const next = encrypted
      ? passphrase === undefined
        ? 'it is encrypted: set MEMPLAY_SSH_PASSPHRASE, or load it into ssh-agent and drop ssh.identity_file'
        : 'MEMPLAY_SSH_PASSPHRASE does not decrypt it'
      : 'check that ssh.identity_file points to a private key';
    throw new HostUnreachable(
      hostName,
      'auth',
      `cannot use identity file ${identityFile} (${parsed.message}); ${next}`,
    );
  }
  return passphrase === undefined ? { key } : { key, passphrase };
}
