// The ssh transport: one ssh2 connection per host, shared by every command, upload
// and TCP tunnel of that host. Files go over SFTP, or over an exec channel on a
// host whose sshd refuses the SFTP subsystem (exec-transfer.ts). The handshake, host-key policy and identities that
// open that connection live in ssh-client.ts and the modules it uses.

import { stat } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import type { ClientChannel, SFTPWrapper, Client as Ssh2Client } from 'ssh2';

type Client = Ssh2Client;

import { HostUnreachable } from '../errors.js';
import { addressAndPort } from './address.js';
import {
  CommandSlots,
  commandRecorder,
  exitCodeForSignal,
  type RawRunResult,
  type RawTransport,
} from './command-events.js';
import {
  type ChannelEnd,
  downloadCommand,
  receiveFile,
  sendFile,
  TransferChoice,
  uploadCommand,
} from './exec-transfer.js';
import { loginShellLine, type ShellCommand } from './quote.js';
import { openSshClient } from './ssh-client.js';
import type { SshOptions } from './ssh-options.js';
import type { HeldCommand, RunOptions, RunResult, TransferMethod, UploadProgress } from './transport.js';

export { openSshClient } from './ssh-client.js';
export type { AcceptedHostKey, SshOptions } from './ssh-options.js';

/** Opens and authenticates one ssh connection; rejects with HostUnreachable before running anything. */
export async function connectSsh(options: SshOptions): Promise<RawTransport> {
  return new SshTransport(await openSshClient(options), options);
}

class SshTransport implements RawTransport {
  readonly hostName: string;
  private readonly slots: CommandSlots;
  private sftp: Promise<SFTPWrapper> | undefined;
  /** SFTP, or an exec stream once the host has refused the subsystem: decided on first use. */
  private readonly transfer = new TransferChoice(() => this.probeSftp());
  private closing: Promise<void> | undefined;
  private connected = true;
  private lastError: Error | undefined;

  constructor(
    private readonly client: Client,
    private readonly options: SshOptions,
  ) {
    this.hostName = options.hostName;
    this.slots = new CommandSlots(options.maxConcurrentCommands ?? 8);
    // After `ready`, errors surface through the commands they break; keep the cause for their message.
    client.on('error', (error) => {
      this.lastError = error;
    });
    client.on('close', () => {
      this.connected = false;
    });
  }

  private disconnected(doing: string): Error {
    if (this.closing) return new Error(`${this.hostName}: connection already closed; cannot ${doing}`);
    const cause = this.lastError ? ` (${this.lastError.message})` : '';
    return new HostUnreachable(
      this.hostName,
      'disconnected',
      `ssh connection to ${this.options.address}:${this.options.port} was lost${cause} while trying to ${doing}; ` +
        `the command may or may not have completed on the host`,
    );
  }

  async run(command: ShellCommand, options?: RunOptions): Promise<RunResult> {
    const raw = await this.runRaw(command, options);
    return { code: raw.code, stdout: raw.stdout.toString('utf8'), stderr: raw.stderr.toString('utf8') };
  }

  async runRaw(command: ShellCommand, options: RunOptions = {}): Promise<RawRunResult> {
    const release = await this.slots.acquire();
    const started = Date.now();
    try {
      return await this.exec(command, options, started);
    } finally {
      release();
    }
  }

  private exec(command: ShellCommand, options: RunOptions, started: number): Promise<RawRunResult> {
    const text = command.text;
    const doing = `run: ${text}`;
    return new Promise((resolve, reject) => {
      if (!this.connected) {
        reject(this.disconnected(doing));
        return;
      }
      this.client.exec(loginShellLine(command), (error, channel) => {
        if (error) {
          reject(
            this.connected
              ? new Error(`${this.hostName}: cannot start command (${error.message}): ${text}`)
              : this.disconnected(doing),
          );
          return;
        }
        this.collect(channel, command, options, started).then(resolve, reject);
      });
    });
  }

  private collect(
    channel: ClientChannel,
    command: ShellCommand,
    options: RunOptions,
    started: number,
  ): Promise<RawRunResult> {
    const text = command.text;
    return new Promise((resolve, reject) => {
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let code: number | undefined;
      let signalNote = '';
      let timedOut = false;
      channel.on('data', (chunk: Buffer) => stdout.push(chunk));
      channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      channel.on(
        'exit',
        (exitCode: number | null, signal?: string, _core?: boolean, description?: string) => {
          if (typeof exitCode === 'number') {
            code = exitCode;
          } else if (signal) {
            code = exitCodeForSignal(signal);
            signalNote = `\n[memplay: killed by signal ${signal}${description ? `: ${description}` : ''}]\n`;
          }
        },
      );
      const record = commandRecorder(this.options, this.hostName, text, started);
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              // Without a pty, closing the channel alone may leave the remote process running.
              channel.signal('KILL');
              channel.close();
              reject(record.timedOut(stdout, stderr, options.timeoutMs as number));
            }, options.timeoutMs);
      channel.on('close', () => {
        clearTimeout(timer);
        if (timedOut) return;
        if (code === undefined && !this.connected) {
          reject(this.disconnected(`run: ${text}`));
          return;
        }
        if (code === undefined) signalNote = '\n[memplay: the command ended without an exit status]\n';
        const result: RawRunResult = {
          code: code ?? -1,
          stdout: Buffer.concat(stdout),
          stderr: signalNote ? Buffer.concat([...stderr, Buffer.from(signalNote)]) : Buffer.concat(stderr),
        };
        record.finished(result);
        resolve(result);
      });
      if (options.stdin !== undefined) channel.end(options.stdin);
      else channel.end();
    });
  }

  /** A new SFTP session; rejects as ssh2 does when the host refuses the subsystem (see exec-transfer.ts). */
  private openSftp(): Promise<SFTPWrapper> {
    return new Promise<SFTPWrapper>((resolve, reject) => {
      this.client.sftp((error, sftp) => (error ? reject(error) : resolve(sftp)));
    });
  }

  private sftpSession(): Promise<SFTPWrapper> {
    if (!this.sftp) {
      const session = this.openSftp().then((sftp) => {
        sftp.on('close', () => {
          if (this.sftp === session) this.sftp = undefined;
        });
        return sftp;
      });
      this.sftp = session;
      session.catch(() => {
        if (this.sftp === session) this.sftp = undefined;
      });
    }
    return this.sftp;
  }

  /** Read-only: opens an SFTP session and closes it again, so it holds none of sshd's MaxSessions while idle. */
  private async probeSftp(): Promise<void> {
    if (!this.connected) throw this.disconnected('open an SFTP session');
    if (this.sftp) {
      await this.sftp;
      return;
    }
    try {
      (await this.openSftp()).end();
    } catch (error) {
      if (!this.connected) throw this.disconnected('open an SFTP session');
      throw error;
    }
  }

  transferMethod(): Promise<TransferMethod> {
    return this.transfer.method();
  }

  async upload(
    localPath: string,
    remotePath: string,
    onProgress?: (p: UploadProgress) => void,
  ): Promise<void> {
    const doing = `upload ${localPath} to ${remotePath}`;
    if (!this.connected) throw this.disconnected(doing);
    const { size } = await stat(localPath);
    let reported = -1;
    const progress = (p: UploadProgress) => {
      reported = p.transferred;
      onProgress?.(p);
    };
    if ((await this.methodFor(doing)) === 'exec-stream') {
      await this.streamUpload(localPath, remotePath, size, progress, doing);
    } else {
      try {
        const sftp = await this.sftpSession();
        await new Promise<void>((resolve, reject) => {
          sftp.fastPut(
            localPath,
            remotePath,
            { step: (transferred, _chunk, total) => progress({ transferred, total }) },
            (error) => (error ? reject(error) : resolve()),
          );
        });
      } catch (error) {
        if (!this.connected) throw this.disconnected(doing);
        throw new Error(
          `${this.hostName}: cannot ${doing}: ${(error as Error).message}; check that the remote directory exists and is writable`,
        );
      }
    }
    if (reported !== size) onProgress?.({ transferred: size, total: size });
  }

  async download(remotePath: string, localPath: string): Promise<void> {
    const doing = `download ${remotePath} to ${localPath}`;
    if (!this.connected) throw this.disconnected(doing);
    if ((await this.methodFor(doing)) === 'exec-stream') {
      await this.streamDownload(remotePath, localPath, doing);
      return;
    }
    try {
      const sftp = await this.sftpSession();
      await new Promise<void>((resolve, reject) => {
        sftp.fastGet(remotePath, localPath, (error) => (error ? reject(error) : resolve()));
      });
    } catch (error) {
      if (!this.connected) throw this.disconnected(doing);
      throw new Error(`${this.hostName}: cannot ${doing}: ${(error as Error).message}`);
    }
  }

  private async methodFor(doing: string): Promise<TransferMethod> {
    try {
      return await this.transferMethod();
    } catch (error) {
      if (error instanceof HostUnreachable) throw error;
      throw new Error(`${this.hostName}: cannot ${doing}: ${(error as Error).message}`);
    }
  }

  private async streamUpload(
    localPath: string,
    remotePath: string,
    size: number,
    onProgress: (p: UploadProgress) => void,
    doing: string,
  ): Promise<void> {
    const command = uploadCommand(remotePath, size);
    await this.streamed(command, doing, 'check that the remote directory exists and is writable', (channel) =>
      sendFile(channel, localPath, size, onProgress),
    );
  }

  private async streamDownload(remotePath: string, localPath: string, doing: string): Promise<void> {
    await this.streamed(
      downloadCommand(remotePath),
      doing,
      'check that the file exists and is readable',
      (channel) => receiveFile(channel, localPath),
    );
  }

  /** One exec-stream transfer: a command slot, the channel, the `-v` record, and its failure in words. */
  private async streamed(
    command: ShellCommand,
    doing: string,
    hint: string,
    transfer: (channel: ClientChannel) => Promise<ChannelEnd>,
  ): Promise<void> {
    const release = await this.slots.acquire();
    const started = Date.now();
    let end: ChannelEnd;
    try {
      const channel = await this.openChannel(command, doing);
      end = await transfer(channel);
    } finally {
      release();
    }
    const stderr = Buffer.from(end.stderr);
    // The file's bytes are not the log's business: stdout is left out of the record.
    commandRecorder(this.options, this.hostName, command.text, started).finished({
      code: end.code ?? -1,
      stdout: Buffer.alloc(0),
      stderr,
    });
    const how = 'over an exec stream (the host has no SFTP subsystem)';
    if (end.localError)
      throw new Error(`${this.hostName}: cannot ${doing} ${how}: ${end.localError.message}`);
    if (end.code === null && !this.connected) throw this.disconnected(doing);
    if (end.code !== 0) {
      const status = end.code === null ? 'it ended without an exit status' : `exit ${end.code}`;
      throw new Error(
        `${this.hostName}: cannot ${doing} ${how}: ${status}${end.stderr ? `: ${end.stderr}` : ''}; ${hint}`,
      );
    }
  }

  private openChannel(command: ShellCommand, doing: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      if (!this.connected) {
        reject(this.disconnected(doing));
        return;
      }
      this.client.exec(loginShellLine(command), (error, channel) => {
        if (error) {
          reject(
            this.connected
              ? new Error(
                  `${this.hostName}: cannot ${doing}: cannot start ${command.text} (${error.message})`,
                )
              : this.disconnected(doing),
          );
          return;
        }
        resolve(channel);
      });
    });
  }

  openTcp(port: number, address = '127.0.0.1'): Promise<Duplex> {
    const where = addressAndPort(address, port);
    const doing = `open a tunnel to ${where}`;
    return new Promise((resolve, reject) => {
      if (!this.connected) {
        reject(this.disconnected(doing));
        return;
      }
      this.client.forwardOut('127.0.0.1', 0, address, port, (error, channel) => {
        if (error) {
          reject(
            this.connected
              ? new Error(
                  `${this.hostName}: cannot ${doing} through ssh (${error.message}); is something listening ` +
                    `on ${where} there, and does sshd allow TCP forwarding (AllowTcpForwarding)?`,
                )
              : this.disconnected(doing),
          );
          return;
        }
        resolve(channel);
      });
    });
  }

  hold(command: ShellCommand): Promise<HeldCommand> {
    return this.openChannel(command, `hold ${command.text}`).then(heldChannel);
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      if (!this.connected) {
        resolve();
        return;
      }
      // A server that never answers the disconnect must not hang the run.
      const fallback = setTimeout(() => this.client.destroy(), 5_000);
      this.client.once('close', () => {
        clearTimeout(fallback);
        resolve();
      });
      this.client.end();
    });
    return this.closing;
  }
}

/** A held command's channel: its first output line, and a release that sends EOF and waits for the end. */
function heldChannel(channel: ClientChannel): Promise<HeldCommand> {
  return new Promise((resolve) => {
    let output = '';
    let closed = false;
    const ended = new Promise<void>((done) => channel.once('close', () => done()));
    void ended.then(() => {
      closed = true;
    });
    const release = async () => {
      if (!closed) channel.end();
      await ended;
    };
    const answer = () => {
      const newline = output.indexOf('\n');
      if (newline >= 0) resolve({ firstLine: output.slice(0, newline), release });
      return newline >= 0;
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (answer()) channel.off('data', onData);
    };
    channel.on('data', onData);
    // Whatever it writes on stderr is drained, or a full window would stall it.
    channel.stderr.on('data', () => {});
    void ended.then(() => {
      if (!answer()) resolve({ firstLine: output, release });
    });
  });
}
