import type { Readable } from 'node:stream';
import type { ShellCommand } from './quote.js';

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly stdin?: string | Buffer;
  readonly timeoutMs?: number;
}

export interface UploadProgress {
  readonly transferred: number;
  readonly total: number;
}

/** One live connection to a host, shared by all of that host's tasks. */
export interface Transport {
  readonly hostName: string;
  /** Runs a command built by `sh` through the remote user's shell. Never rejects for a non-zero exit. */
  run(command: ShellCommand, options?: RunOptions): Promise<RunResult>;
  /** Copies a local file to the host (see `transferMethod`), streamed. */
  upload(localPath: string, remotePath: string, onProgress?: (p: UploadProgress) => void): Promise<void>;
  /** Copies a file from the host to the controller (see `transferMethod`), streamed to disk. */
  download(remotePath: string, localPath: string): Promise<void>;
  /**
   * How `upload` and `download` move files on this connection. Decided once per
   * connection and read-only to find out: ssh opens (and closes) an SFTP session,
   * and remembers a refusal of the subsystem.
   */
  transferMethod(): Promise<TransferMethod>;
  /** A TCP stream to `address:port` (default `127.0.0.1`) as seen from the host (ssh2 forwardOut for ssh). */
  openTcp(port: number, address?: string): Promise<import('node:stream').Duplex>;
  /**
   * Starts a command that runs as long as this connection holds it: it reads its
   * stdin until memplay releases it (or the connection drops, memplay killed
   * included). Resolves with its first line of output.
   */
  hold(command: ShellCommand): Promise<HeldCommand>;
  close(): Promise<void>;
}

/**
 * `sftp`: the SFTP subsystem. `exec-stream`: sshd refuses that subsystem, so files
 * are streamed through `cat` over an exec channel. `local`: a copy on this machine.
 */
export type TransferMethod = 'sftp' | 'exec-stream' | 'local';

/** For people: `sftp`, `exec stream (no SFTP subsystem)`, `local copy`. */
export function describeTransfer(method: TransferMethod): string {
  if (method === 'exec-stream') return 'exec stream (no SFTP subsystem)';
  if (method === 'local') return 'local copy';
  return 'sftp';
}

export interface HeldCommand {
  /** The command's first line of output, without the newline ('' if it ended before writing one). */
  readonly firstLine: string;
  /** Closes its stdin and waits for it to end. */
  release(): Promise<void>;
}

export type { Readable };
