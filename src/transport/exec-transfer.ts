// Files over an exec channel, for hosts whose sshd refuses the SFTP subsystem (no
// `Subsystem sftp` line, or one naming a server that is not installed). scp is no
// way around that: OpenSSH 9's scp speaks SFTP underneath. An upload is `cat` into
// a part file beside the destination, its size checked against what was sent, then
// renamed into place, so a stream cut short never leaves a short file where the
// whole one is expected; a download is `cat` of the file streamed to disk. Neither
// holds the file in memory. Callers check contents by sha256 on both sides, as they
// do after SFTP.

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { unlink } from 'node:fs/promises';
import type { Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type ShellCommand, sh } from './quote.js';
import type { TransferMethod, UploadProgress } from './transport.js';

// Values arrive as positional parameters ($1 part, $2 destination, $3 size): the
// script text is a constant and every value goes through `sh` quoting.
const uploadScript = `
part=$1; dest=$2; size=$3
if ! cat > "$part"; then rm -f -- "$part"; exit 1; fi
got=$(wc -c < "$part" | tr -d ' ')
if [ "$got" != "$size" ]; then
  rm -f -- "$part"
  printf 'received %s of %s bytes\\n' "$got" "$size" >&2
  exit 1
fi
mv -f -- "$part" "$dest" || { rm -f -- "$part"; exit 1; }
`;

/** Where an upload to `remotePath` is written until it is whole: beside it, so the rename stays on one file system. */
export function partPath(remotePath: string, token: string = randomBytes(4).toString('hex')): string {
  return `${remotePath}.memplay-part-${token}`;
}

/** Reads `size` bytes on stdin into `part`, checks the count, renames it to `remotePath`. */
export function uploadCommand(
  remotePath: string,
  size: number,
  part: string = partPath(remotePath),
): ShellCommand {
  return sh`sh -c ${uploadScript} memplay-upload ${part} ${remotePath} ${size}`;
}

/** Writes the file to stdout. */
export function downloadCommand(remotePath: string): ShellCommand {
  return sh`cat -- ${remotePath}`;
}

// How ssh2 reports a refused subsystem: the request denied (no `Subsystem sftp`
// line), or a session that ends before the SFTP handshake (a `Subsystem` line
// naming a server that is not there exits 127).
const refusals = [
  /Unable to start subsystem/i,
  /while establishing SFTP session/i,
  /unexpected SFTP session termination/i,
];

/** Whether opening an SFTP session failed because the host has none (not because the connection did). */
export function isSftpRefusal(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return refusals.some((refusal) => refusal.test(message));
}

/**
 * The transfer a connection uses, decided on first use and kept: `probe` opens
 * (and closes) an SFTP session; a refusal means `exec-stream` for the rest of the
 * connection. Any other failure (the connection dropped) is thrown and not kept,
 * so the next caller asks again.
 */
export class TransferChoice {
  private decided: Promise<TransferMethod> | undefined;

  constructor(private readonly probe: () => Promise<void>) {}

  method(): Promise<TransferMethod> {
    if (!this.decided) {
      const deciding = this.probe().then(
        (): TransferMethod => 'sftp',
        (error: unknown): TransferMethod => {
          if (isSftpRefusal(error)) return 'exec-stream';
          throw error;
        },
      );
      this.decided = deciding;
      deciding.catch(() => {
        if (this.decided === deciding) this.decided = undefined;
      });
    }
    return this.decided;
  }
}

/** An exec channel as a transfer sees it (ssh2's ClientChannel): stdin and stdout as one stream, stderr apart, `exit` with the status, then `close`. */
export interface ExecChannel extends Duplex {
  readonly stderr: Readable;
}

export interface ChannelEnd {
  /** The command's exit status; null when it ended without one (a signal, the connection lost). */
  readonly code: number | null;
  readonly stderr: string;
  /** A local failure (reading the file, writing it) that cut the transfer short. */
  readonly localError?: Error;
}

// stderr of a transfer is a line or two; more than this is not kept.
const stderrLimit = 16 * 1024;

/** Resolves at the channel's `close`, with the exit status and stderr. Listens from the start, so nothing is missed. */
function channelEnd(channel: ExecChannel): Promise<Omit<ChannelEnd, 'localError'>> {
  return new Promise((resolve) => {
    let code: number | null = null;
    const stderr: Buffer[] = [];
    let kept = 0;
    channel.stderr.on('data', (chunk: Buffer) => {
      if (kept >= stderrLimit) return;
      stderr.push(chunk);
      kept += chunk.length;
    });
    channel.on('exit', (exitCode: unknown) => {
      if (typeof exitCode === 'number') code = exitCode;
    });
    channel.once('close', () => resolve({ code, stderr: Buffer.concat(stderr).toString('utf8').trim() }));
  });
}

/**
 * Streams `localPath` (of `size` bytes) into the channel of `uploadCommand`, then
 * sends EOF. Progress counts the bytes handed to the channel, which ssh's window
 * keeps close to what has arrived.
 */
export async function sendFile(
  channel: ExecChannel,
  localPath: string,
  size: number,
  onProgress?: (p: UploadProgress) => void,
): Promise<ChannelEnd> {
  const ended = channelEnd(channel);
  let closed = false;
  void ended.then(() => {
    closed = true;
  });
  // The command writes nothing on stdout; reading it anyway lets the channel end.
  channel.on('data', () => {});
  const source = createReadStream(localPath);
  let localError: Error | undefined;
  let transferred = 0;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      if (closed) break;
      transferred += chunk.length;
      onProgress?.({ transferred, total: size });
      // A command that ended early never drains the channel: its end stops the wait.
      if (!channel.write(chunk)) await Promise.race([once(channel, 'drain'), ended]);
    }
  } catch (error) {
    // EOF after a short file: the command finds fewer bytes than `size` and removes its part file.
    localError = error as Error;
  } finally {
    source.destroy();
  }
  if (!closed) channel.end();
  const end = await ended;
  return localError ? { ...end, localError } : end;
}

/** Streams the channel of `downloadCommand` into `localPath`; a failed download leaves no file there. */
export async function receiveFile(channel: ExecChannel, localPath: string): Promise<ChannelEnd> {
  const ended = channelEnd(channel);
  channel.end();
  let localError: Error | undefined;
  await pipeline(channel, createWriteStream(localPath)).catch((error: unknown) => {
    localError = error as Error;
  });
  const end = await ended;
  if (localError || end.code !== 0) await unlink(localPath).catch(() => {});
  return localError ? { ...end, localError } : end;
}
