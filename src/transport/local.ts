// The local transport: the same contract as ssh, for `connection: local` hosts
// (this machine, or the lab). Commands go through `/bin/sh -c`, like sshd does
// with the remote user's shell.

import { spawn } from 'node:child_process';
import { copyFile, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { addressAndPort } from './address.js';
import {
  CommandSlots,
  commandRecorder,
  exitCodeForSignal,
  type RawRunResult,
  type RawTransport,
  type TransportHooks,
} from './command-events.js';
import type { ShellCommand } from './quote.js';
import type { HeldCommand, RunOptions, RunResult, TransferMethod, UploadProgress } from './transport.js';

// What an ssh login gives a command (sshd sets USER, LOGNAME, HOME, PATH, SHELL and
// passes the locale), and what builds and systemctl read: a local host's commands
// see this much of memplay's environment and no more. memplay's own variables stay
// out — its secrets (MEMPLAY_BECOME_PASSWORD reaches sudo on stdin, never through the
// environment), and anything else a child has no use for.
const passedVariables = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LANGUAGE',
  'TZ',
  'TMPDIR',
  'TERM',
];
const passedPrefixes = ['LC_', 'XDG_RUNTIME_DIR'];

/** The environment a local host's command runs with: `environment` less everything it does not need. */
export function childEnvironment(environment: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(environment).filter(
      ([name, value]) =>
        value !== undefined &&
        (passedVariables.includes(name) || passedPrefixes.some((prefix) => name.startsWith(prefix))),
    ),
  );
}

export interface LocalOptions extends TransportHooks {
  readonly maxConcurrentCommands?: number;
}

export function createLocalTransport(hostName: string, options: LocalOptions = {}): RawTransport {
  const slots = new CommandSlots(options.maxConcurrentCommands ?? 8);
  let closed = false;

  function ensureOpen(doing: string): void {
    if (closed) throw new Error(`${hostName}: transport already closed; cannot ${doing}`);
  }

  function exec(command: ShellCommand, runOptions: RunOptions): Promise<RawRunResult> {
    const text = command.text;
    const started = Date.now();
    return new Promise((resolve, reject) => {
      // Its own process group, so a timeout kills the whole pipeline, not just the shell.
      const child = spawn('/bin/sh', ['-c', text], {
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
        env: childEnvironment(),
      });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let timedOut = false;
      child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
      child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      // A command that does not read its stdin closes the pipe early; that is not an error.
      child.stdin.on('error', () => {});
      const record = commandRecorder(options, hostName, text, started);
      const timer =
        runOptions.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              try {
                if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
              } catch {
                // Already gone.
              }
              reject(record.timedOut(stdout, stderr, runOptions.timeoutMs as number));
            }, runOptions.timeoutMs);
      child.on('error', (error) => {
        clearTimeout(timer);
        if (!timedOut) reject(new Error(`${hostName}: cannot start /bin/sh (${error.message}): ${text}`));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (timedOut) return;
        const note = signal ? `\n[memplay: killed by signal ${signal}]\n` : '';
        const result: RawRunResult = {
          code: code ?? (signal ? exitCodeForSignal(signal) : -1),
          stdout: Buffer.concat(stdout),
          stderr: note ? Buffer.concat([...stderr, Buffer.from(note)]) : Buffer.concat(stderr),
        };
        record.finished(result);
        resolve(result);
      });
      if (runOptions.stdin !== undefined) child.stdin.end(runOptions.stdin);
      else child.stdin.end();
    });
  }

  async function runRaw(command: ShellCommand, runOptions: RunOptions = {}): Promise<RawRunResult> {
    ensureOpen(`run: ${command.text}`);
    const release = await slots.acquire();
    try {
      return await exec(command, runOptions);
    } finally {
      release();
    }
  }

  return {
    hostName,
    runRaw,
    async run(command: ShellCommand, runOptions?: RunOptions): Promise<RunResult> {
      const raw = await runRaw(command, runOptions);
      return { code: raw.code, stdout: raw.stdout.toString('utf8'), stderr: raw.stderr.toString('utf8') };
    },
    async upload(localPath: string, remotePath: string, onProgress?: (p: UploadProgress) => void) {
      const doing = `copy ${localPath} to ${remotePath}`;
      ensureOpen(doing);
      try {
        await copyFile(localPath, remotePath);
      } catch (error) {
        throw new Error(`${hostName}: cannot ${doing}: ${(error as Error).message}`);
      }
      const { size } = await stat(remotePath);
      onProgress?.({ transferred: size, total: size });
    },
    async download(remotePath: string, localPath: string) {
      const doing = `copy ${remotePath} to ${localPath}`;
      ensureOpen(doing);
      try {
        await copyFile(remotePath, localPath);
      } catch (error) {
        throw new Error(`${hostName}: cannot ${doing}: ${(error as Error).message}`);
      }
    },
    async transferMethod(): Promise<TransferMethod> {
      return 'local';
    },
    async openTcp(port: number, address = '127.0.0.1'): Promise<Duplex> {
      const where = addressAndPort(address, port);
      ensureOpen(`connect to ${where}`);
      return new Promise((resolve, reject) => {
        const socket = connect({ host: address, port });
        const onError = (error: Error) =>
          reject(new Error(`${hostName}: cannot connect to ${where}: ${error.message}`));
        socket.once('error', onError);
        socket.once('connect', () => {
          socket.off('error', onError);
          resolve(socket);
        });
      });
    },
    async hold(command: ShellCommand): Promise<HeldCommand> {
      ensureOpen(`run: ${command.text}`);
      const child = spawn('/bin/sh', ['-c', command.text], {
        stdio: ['pipe', 'pipe', 'ignore'],
        env: childEnvironment(),
      });
      child.stdin.on('error', () => {});
      const ended = new Promise<void>((done) => child.once('close', () => done()));
      const release = async () => {
        child.stdin.end();
        await ended;
      };
      let output = '';
      return new Promise((resolve) => {
        const answer = () => {
          const newline = output.indexOf('\n');
          if (newline >= 0) resolve({ firstLine: output.slice(0, newline), release });
          return newline >= 0;
        };
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString('utf8');
          answer();
        });
        void ended.then(() => {
          if (!answer()) resolve({ firstLine: output, release });
        });
      });
    },
    async close() {
      closed = true;
    },
  };
}
