import type { Duplex } from 'node:stream';
import type { ShellCommand } from '../../src/transport/quote.js';
import type { HeldCommand, RunOptions, RunResult, Transport } from '../../src/transport/transport.js';

// A Transport with no host behind it, for engine tests that run as any user
// with no process or socket: every call is recorded, and `run` and `hold`
// answer from a script (the first rule whose pattern matches the command's
// text), or with the default answer.

export type FakeCall =
  | { readonly kind: 'run'; readonly command: string }
  | { readonly kind: 'hold'; readonly command: string }
  | { readonly kind: 'upload'; readonly from: string; readonly to: string }
  | { readonly kind: 'download'; readonly from: string; readonly to: string }
  | { readonly kind: 'openTcp'; readonly port: number; readonly address?: string };

export interface FakeRule {
  readonly match: RegExp;
  /** An answer, or an error to throw (a dead connection). */
  readonly answer: Partial<RunResult> | Error;
}

export class FakeTransport implements Transport {
  readonly calls: FakeCall[] = [];
  closed = false;

  constructor(
    readonly hostName: string,
    private readonly script: readonly FakeRule[] = [],
    private readonly fallback: RunResult = { code: 0, stdout: '', stderr: '' },
  ) {}

  private answer(command: string): RunResult {
    const rule = this.script.find((r) => r.match.test(command));
    if (!rule) return this.fallback;
    if (rule.answer instanceof Error) throw rule.answer;
    return { code: 0, stdout: '', stderr: '', ...rule.answer };
  }

  async run(command: ShellCommand, _options?: RunOptions): Promise<RunResult> {
    this.calls.push({ kind: 'run', command: command.text });
    return this.answer(command.text);
  }

  async hold(command: ShellCommand): Promise<HeldCommand> {
    this.calls.push({ kind: 'hold', command: command.text });
    const result = this.answer(command.text);
    return { firstLine: result.stdout.split('\n')[0] ?? '', release: async () => {} };
  }

  async upload(localPath: string, remotePath: string): Promise<void> {
    this.calls.push({ kind: 'upload', from: localPath, to: remotePath });
  }

  async download(remotePath: string, localPath: string): Promise<void> {
    this.calls.push({ kind: 'download', from: remotePath, to: localPath });
  }

  async openTcp(port: number, address?: string): Promise<Duplex> {
    this.calls.push({ kind: 'openTcp', port, ...(address === undefined ? {} : { address }) });
    // Nothing listens behind a fake host.
    throw new Error(`connect ECONNREFUSED ${address ?? '127.0.0.1'}:${port}`);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
