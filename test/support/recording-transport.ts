import { Duplex } from 'node:stream';
import type { ShellCommand } from '../../src/transport/quote.js';
import type {
  HeldCommand,
  RunOptions,
  RunResult,
  TransferMethod,
  Transport,
  UploadProgress,
} from '../../src/transport/transport.js';

// A Transport with no host behind it, for task fixtures (pyinfra's operation
// tests: facts in, commands out) and engine tests. Every call is recorded; `run`
// answers from a script, first match wins, and a command the script does not
// list throws with its text, so a fixture names every command a plan runs (an
// engine test, which scripts its tasks, may give a default answer instead). TCP refuses like a closed port unless
// the port is scripted as a memcached, which answers the few text-protocol reads
// the plans make (version, stats, stats settings) from an in-process stream.

export interface ScriptedRun {
  readonly match: RegExp;
  /** The answer, or an error to throw (a dead connection). */
  readonly result: Partial<RunResult> | Error;
}

/** What a scripted memcached answers; its stats are sent as given. */
export interface FakeMemcached {
  readonly version: string;
  readonly stats?: Readonly<Record<string, string | number>>;
  readonly settings?: Readonly<Record<string, string | number>>;
}

export interface RecordingTransportOptions {
  readonly hostName?: string;
  readonly run?: readonly ScriptedRun[];
  /** The answer to a command the script does not list; without it such a command throws. */
  readonly otherwise?: Partial<RunResult>;
  /** Ports that accept connections: a memcached, or `'open'` (accepts, says nothing). */
  readonly tcp?: Readonly<Record<number, FakeMemcached | 'open'>>;
  /** What `transferMethod` answers (default `sftp`), or an error to throw (a dead connection). */
  readonly transfer?: TransferMethod | Error;
}

export interface TcpCall {
  readonly port: number;
  readonly address: string | undefined;
  readonly accepted: boolean;
}

export class UnscriptedCommand extends Error {
  override name = 'UnscriptedCommand';
}

export class RecordingTransport implements Transport {
  readonly hostName: string;
  /** `command.text` of every run, in order. */
  readonly commands: string[] = [];
  readonly uploads: { localPath: string; remotePath: string }[] = [];
  readonly downloads: { remotePath: string; localPath: string }[] = [];
  readonly held: string[] = [];
  readonly tcp: TcpCall[] = [];
  /** How many times `transferMethod` was asked (each is an SFTP probe on a real host). */
  transferProbes = 0;
  /** Every line a scripted memcached received, over all connections. */
  readonly memcachedRequests: string[] = [];
  /** Commands no script entry matched (also thrown). */
  readonly unscripted: string[] = [];
  closed = false;

  private readonly script: readonly ScriptedRun[];
  private readonly otherwise: Partial<RunResult> | undefined;
  private readonly ports: Readonly<Record<number, FakeMemcached | 'open'>>;
  private readonly transfer: TransferMethod | Error;

  constructor(options: RecordingTransportOptions = {}) {
    this.hostName = options.hostName ?? 'cache-1';
    this.script = options.run ?? [];
    this.otherwise = options.otherwise;
    this.ports = options.tcp ?? {};
    this.transfer = options.transfer ?? 'sftp';
  }

  async run(command: ShellCommand, _options?: RunOptions): Promise<RunResult> {
    this.commands.push(command.text);
    const entry = this.script.find((candidate) => candidate.match.test(command.text));
    if (!entry && this.otherwise) return { code: 0, stdout: '', stderr: '', ...this.otherwise };
    if (!entry) {
      this.unscripted.push(command.text);
      throw new UnscriptedCommand(`the fixture does not script this command:\n${command.text}`);
    }
    if (entry.result instanceof Error) throw entry.result;
    return { code: 0, stdout: '', stderr: '', ...entry.result };
  }

  async upload(localPath: string, remotePath: string, _onProgress?: (p: UploadProgress) => void) {
    this.uploads.push({ localPath, remotePath });
  }

  async download(remotePath: string, localPath: string) {
    this.downloads.push({ remotePath, localPath });
  }

  async transferMethod(): Promise<TransferMethod> {
    this.transferProbes += 1;
    if (this.transfer instanceof Error) throw this.transfer;
    return this.transfer;
  }

  async openTcp(port: number, address?: string): Promise<Duplex> {
    const scripted = this.ports[port];
    this.tcp.push({ port, address, accepted: scripted !== undefined });
    if (scripted === undefined) {
      const refused = new Error(`connect ECONNREFUSED ${address ?? '127.0.0.1'}:${port}`);
      Object.assign(refused, { code: 'ECONNREFUSED' });
      throw refused;
    }
    return scripted === 'open' ? silentStream() : memcachedStream(scripted, this.memcachedRequests);
  }

  async hold(command: ShellCommand): Promise<HeldCommand> {
    this.held.push(command.text);
    throw new UnscriptedCommand(`a plan holds no command; this one was held:\n${command.text}`);
  }

  async close() {
    this.closed = true;
  }

  /** Whether anything at all reached the host: a command, a transfer or its probe, a held command, a dial. */
  get touched(): boolean {
    return (
      this.commands.length +
        this.uploads.length +
        this.downloads.length +
        this.transferProbes +
        this.held.length +
        this.tcp.length >
      0
    );
  }

  /** The ports dialled, in order. */
  get portsDialled(): number[] {
    return this.tcp.map((call) => call.port);
  }
}

/** `{ match, result }` of a command that exits 0 with `stdout`. */
export function answers(match: RegExp, stdout = ''): ScriptedRun {
  return { match, result: { code: 0, stdout, stderr: '' } };
}

function silentStream(): Duplex {
  return new Duplex({
    read() {},
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
}

function statLines(values: Readonly<Record<string, string | number>>): string {
  return `${Object.entries(values)
    .map(([name, value]) => `STAT ${name} ${value}\r\n`)
    .join('')}END\r\n`;
}

/** The text protocol's reads, line by line; anything else is `ERROR` (and recorded). */
function memcachedStream(server: FakeMemcached, requests: string[]): Duplex {
  let buffered = '';
  const stream: Duplex = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      buffered += chunk.toString('latin1');
      let end = buffered.indexOf('\r\n');
      while (end >= 0) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        requests.push(line);
        stream.push(reply(server, line), 'latin1');
        end = buffered.indexOf('\r\n');
      }
      callback();
    },
  });
  return stream;
}

function reply(server: FakeMemcached, line: string): string {
  if (line === 'version') return `VERSION ${server.version}\r\n`;
  if (line === 'stats') return statLines({ version: server.version, ...server.stats });
  if (line === 'stats settings') return statLines(server.settings ?? {});
  return 'ERROR\r\n';
}
