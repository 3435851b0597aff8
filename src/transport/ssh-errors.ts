// What a failed ssh connection attempt means for the user: ssh2's errors (by level
// and socket code) mapped to HostUnreachable with the reason and the next step.

import { HostUnreachable } from '../errors.js';
import type { SshOptions } from './ssh-options.js';

/** An error ssh2 or the socket raised while connecting, as a refusal that says what to check. */
export function connectError(
  options: SshOptions,
  error: Error & { level?: string; code?: string },
): HostUnreachable {
  const { hostName, address, port, user, identityFile } = options;
  const where = `${address}:${port}${options.via ? ` via jump host ${options.via}` : ''}`;
  const placed = options.configNote ? ` (${options.configNote})` : '';
  if (error.level === 'client-authentication') {
    const agent = options.agentSocket ?? process.env.SSH_AUTH_SOCK;
    const tried = [identityFile ? `key ${identityFile}` : '', agent ? `ssh-agent at ${agent}` : '']
      .filter((t) => t !== '')
      .join(' and ');
    return new HostUnreachable(
      hostName,
      'auth',
      `ssh authentication as ${user} on ${where} failed (tried ${tried}); check ssh.identity_file / ssh-agent ` +
        `and that the public key is in ${user}'s authorized_keys`,
    );
  }
  if (error.level === 'client-timeout') {
    return new HostUnreachable(
      hostName,
      'timeout',
      `no ssh handshake with ${where} within ${options.connectTimeoutMs} ms${placed}; check the address and ` +
        `that sshd is up, or raise ssh.connect_timeout`,
    );
  }
  if (error.code === 'ETIMEDOUT') {
    return new HostUnreachable(
      hostName,
      'timeout',
      `connecting to ${where} timed out${placed}; check the address`,
    );
  }
  const hint =
    error.code === 'ECONNREFUSED'
      ? 'is sshd running and listening on that port?'
      : error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN'
        ? 'check the host address'
        : 'check the address, port and network';
  return new HostUnreachable(
    hostName,
    'connect',
    `cannot connect to ${where}: ${error.message}${placed}; ${hint}`,
  );
}

/** The server hung up before the handshake finished, with no error of its own. */
export function handshakeClosed(options: SshOptions): HostUnreachable {
  const { hostName, address, port } = options;
  return new HostUnreachable(
    hostName,
    'disconnected',
    `${address}:${port}${options.via ? ` (via jump host ${options.via})` : ''} closed the connection ` +
      'during the handshake',
  );
}
