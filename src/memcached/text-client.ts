import type { Duplex } from 'node:stream';

// A minimal client for memcached's text protocol over any stream (an ssh2
// forwarded channel or a local socket): enough for `version` and `stats`.
// Replies are read line by line; `stats` ends at END, the others after one line.

export class TextProtocolError extends Error {
  override name = 'TextProtocolError';
}

export class TextClient {
  private buffer = '';
  private waiters: Array<() => void> = [];
  private ended = false;
  private failure: Error | undefined;

  constructor(private readonly stream: Duplex) {
    stream.setEncoding?.('latin1');
    stream.on('data', (chunk: string | Buffer) => {
      this.buffer += typeof chunk === 'string' ? chunk : chunk.toString('latin1');
      this.wake();
    });
    stream.on('end', () => {
      this.ended = true;
      this.wake();
    });
    stream.on('close', () => {
      this.ended = true;
      this.wake();
    });
    stream.on('error', (error: Error) => {
      this.failure = error;
      this.wake();
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private async readLine(): Promise<string> {
    for (;;) {
      const end = this.buffer.indexOf('\r\n');
      if (end >= 0) {
        const line = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        return line;
      }
      if (this.failure) throw this.failure;
      if (this.ended) throw new TextProtocolError('memcached closed the connection');
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  async version(): Promise<string> {
    this.stream.write('version\r\n');
    const line = await this.readLine();
    const match = /^VERSION (\S+)/.exec(line);
    if (!match?.[1]) throw new TextProtocolError(`unexpected reply to version: ${line}`);
    return match[1];
  }

  /** `stats` or `stats <group>` as a name → value map. */
  async stats(group?: string): Promise<Map<string, string>> {
    this.stream.write(group ? `stats ${group}\r\n` : 'stats\r\n');
    const stats = new Map<string, string>();
    for (;;) {
      const line = await this.readLine();
      if (line === 'END') return stats;
      const match = /^STAT (\S+) (.*)$/.exec(line);
      if (!match?.[1]) throw new TextProtocolError(`unexpected reply to stats: ${line}`);
      stats.set(match[1], match[2] ?? '');
    }
  }

  close(): void {
    this.stream.end();
    this.stream.destroy();
  }
}
