import type { Duplex } from 'node:stream';
import { StallNudge } from './tls-nudge.js';

// One pipelined connection to memcached. Requests are queued with the reply
// handler that will consume their answer; memcached answers in request order on
// a connection, so replies are matched to handlers first in, first out.
//
// Replies are parsed straight from the socket's chunks: a line is decoded as
// latin1 (protocol lines are ASCII), and a `VA <len>` (or classic `VALUE`) line is followed by
// exactly len bytes of data and CRLF — the data may itself contain CRLF, so it
// is collected by count, never by searching for a line end. A large value
// spanning many chunks is gathered as a list and joined once.

export class MetaProtocolError extends Error {
  override name = 'MetaProtocolError';
}

/**
 * Consumes one reply (a line, plus the data that followed a `VA` line).
 * Returns true when this request is answered, false to keep receiving lines
 * (multi-line replies such as `stats`), or a promise to pause reading until the
 * consumer has caught up (backpressure towards the server).
 */
export type ReplyHandler = (line: string, value: Buffer | undefined) => boolean | Promise<boolean>;

interface Pending {
  readonly handle: ReplyHandler;
  /** Reply bytes expected, for the in-flight window. */
  readonly weight: number;
}

const FLUSH_BYTES = 256 * 1024;

export interface WindowLimits {
  readonly maxInflightBytes: number;
  readonly maxInflightRequests: number;
}

export class MetaConnection {
  private readonly pending: Pending[] = [];
  private pendingHead = 0;
  private outgoing: Array<string | Buffer> = [];
  private outgoingBytes = 0;
  private leftover: Buffer | undefined;
  private valueLine = '';
  private valueParts: Buffer[] = [];
  private valueNeed = 0;
  private blocked = false;
  private failure: Error | undefined;
  private inflightBytes = 0;
  private windowWaiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  private idleWaiters: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  /** TLS only: wakes a memcached that holds our requests unread (tls-nudge.ts). */
  private readonly nudge: StallNudge | undefined;

  constructor(
    private readonly stream: Duplex,
    private readonly limits: WindowLimits,
  ) {
    (stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    // Only whole requests are ever written (flush), so a nudge never lands inside one.
    this.nudge = StallNudge.for(stream, () => this.inflightRequests > 0 && this.outgoing.length === 0);
    stream.on('data', (chunk: Buffer) => {
      this.nudge?.rearm();
      this.receive(chunk);
    });
    stream.on('error', (error: Error) => this.fail(error));
    stream.on('close', () => this.fail(new MetaProtocolError('memcached closed the connection')));
    stream.on('end', () => this.fail(new MetaProtocolError('memcached closed the connection')));
  }

  get inflightRequests(): number {
    return this.pending.length - this.pendingHead;
  }

  get load(): number {
    return this.inflightBytes;
  }

  get hasRoom(): boolean {
    const requests = this.inflightRequests;
    return (
      requests === 0 ||
      (requests < this.limits.maxInflightRequests && this.inflightBytes < this.limits.maxInflightBytes)
    );
  }

  /** Queues a request (text and data parts) and the handler of its reply; sent at the next flush. */
  enqueue(parts: ReadonlyArray<string | Buffer>, weight: number, handle: ReplyHandler): void {
    if (this.failure) throw this.failure;
    // Sent when the producer pauses (next turn of the event loop) or once a
    // batch is big enough: few large writes, but no request left waiting.
    if (this.outgoing.length === 0) setImmediate(() => this.flush());
    for (const part of parts) {
      this.outgoing.push(part);
      this.outgoingBytes += part.length;
    }
    this.pending.push({ handle, weight });
    this.inflightBytes += weight;
    if (this.outgoingBytes >= FLUSH_BYTES) this.flush();
  }

  /**
   * Writes everything queued as one buffer. An ssh2 channel has no batched
   * write, so cork() does not help there: each write became its own SSH packet
   * (about two per item on restore); one joined write per flush doubles restore
   * throughput through the tunnel.
   */
  flush(): void {
    if (this.outgoing.length === 0 || this.failure) return;
    const parts = this.outgoing;
    const total = this.outgoingBytes;
    this.outgoing = [];
    this.outgoingBytes = 0;
    const joined = Buffer.allocUnsafe(total);
    let offset = 0;
    for (const part of parts) {
      offset += typeof part === 'string' ? joined.write(part, offset, 'latin1') : part.copy(joined, offset);
    }
    this.stream.write(offset === total ? joined : joined.subarray(0, offset));
    this.nudge?.rearm();
  }

  /** Resolves when another request may be queued without exceeding the window. */
  async waitForRoom(): Promise<void> {
    this.flush();
    while (!this.hasRoom) {
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve, reject) => this.windowWaiters.push({ resolve, reject }));
    }
    if (this.failure) throw this.failure;
  }

  /** Resolves when every queued request has been answered. */
  async drain(): Promise<void> {
    this.flush();
    while (this.inflightRequests > 0) {
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve, reject) => this.idleWaiters.push({ resolve, reject }));
    }
    if (this.failure) throw this.failure;
  }

  /** Sends one request and resolves once its handler says it is answered. */
  request(parts: ReadonlyArray<string | Buffer>, handle: ReplyHandler): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      try {
        this.enqueue(parts, 64, (line, value) => {
          try {
            const done = handle(line, value);
            if (done === true) resolve();
            return done;
          } catch (error) {
            reject(error as Error);
            return true;
          }
        });
        this.idleWaiters.push({ resolve: () => {}, reject });
        this.flush();
      } catch (error) {
        reject(error as Error);
      }
    });
  }

  close(): void {
    this.nudge?.stop();
    this.failure ??= new MetaProtocolError('connection closed by memplay');
    this.stream.end();
    this.stream.destroy();
  }

  get error(): Error | undefined {
    return this.failure;
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.nudge?.stop();
    const waiters = [...this.windowWaiters, ...this.idleWaiters];
    this.windowWaiters = [];
    this.idleWaiters = [];
    for (const waiter of waiters) waiter.reject(error);
    this.stream.destroy();
  }

  private receive(chunk: Buffer): void {
    if (this.failure) return;
    try {
      let rest = chunk;
      if (this.leftover && !this.blocked && this.valueNeed === 0) {
        // A reply line was cut by the previous chunk: complete just that line
        // rather than copying the whole new chunk behind it.
        const lf = chunk.indexOf(10);
        if (lf < 0) {
          this.leftover = Buffer.concat([this.leftover, chunk]);
          return;
        }
        const head = Buffer.concat([this.leftover, chunk.subarray(0, lf + 1)]);
        this.leftover = undefined;
        this.consume(head);
        rest = chunk.subarray(lf + 1);
      }
      if (this.leftover) {
        rest = Buffer.concat([this.leftover, rest]);
        this.leftover = undefined;
      }
      this.consume(rest);
    } catch (error) {
      this.fail(error as Error);
    }
  }

  /** Parses replies from buf; keeps an incomplete line, or everything once blocked, in leftover. */
  private consume(buf: Buffer): void {
    let pos = 0;
    while (pos < buf.length) {
      if (this.blocked) {
        this.leftover = buf.subarray(pos);
        return;
      }
      if (this.valueNeed > 0) {
        const take = Math.min(this.valueNeed, buf.length - pos);
        this.valueParts.push(buf.subarray(pos, pos + take));
        pos += take;
        this.valueNeed -= take;
        if (this.valueNeed > 0) return;
        const parts = this.valueParts;
        this.valueParts = [];
        const whole = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
        if (whole[whole.length - 2] !== 13 || whole[whole.length - 1] !== 10) {
          throw new MetaProtocolError(`value after "${this.valueLine}" is not followed by CRLF`);
        }
        this.deliver(this.valueLine, whole.subarray(0, whole.length - 2));
        continue;
      }
      const lf = buf.indexOf(10, pos);
      if (lf < 0) {
        this.leftover = buf.subarray(pos);
        return;
      }
      const line = buf.toString('latin1', pos, buf[lf - 1] === 13 ? lf - 1 : lf);
      pos = lf + 1;
      if (line.charCodeAt(0) === 86 && line.charCodeAt(1) === 65 && line.charCodeAt(2) === 32) {
        // "VA <len> <flags>*": the data and its CRLF follow.
        const space = line.indexOf(' ', 3);
        const length = Number(space < 0 ? line.slice(3) : line.slice(3, space));
        if (!Number.isInteger(length) || length < 0) throw new MetaProtocolError(`bad value header: ${line}`);
        this.valueLine = line;
        this.valueNeed = length + 2;
        continue;
      }
      if (line.startsWith('VALUE ')) {
        // Classic `gets`: "VALUE <key> <flags> <bytes> <cas>", the data and its CRLF follow.
        // A key on this protocol never holds a space, so the fields split cleanly.
        const length = Number(line.split(' ')[3]);
        if (!Number.isInteger(length) || length < 0) throw new MetaProtocolError(`bad value header: ${line}`);
        this.valueLine = line;
        this.valueNeed = length + 2;
        continue;
      }
      this.deliver(line, undefined);
    }
  }

  private deliver(line: string, value: Buffer | undefined): void {
    const current = this.pending[this.pendingHead];
    if (!current) throw new MetaProtocolError(`unexpected reply from memcached: ${line.slice(0, 200)}`);
    const done = current.handle(line, value);
    if (done === false) return;
    if (done === true) {
      this.answered(current);
      return;
    }
    // The consumer is busy: stop reading until it catches up.
    this.blocked = true;
    this.stream.pause();
    done.then(
      (finished) => {
        if (finished) this.answered(current);
        this.blocked = false;
        const rest = this.leftover;
        this.leftover = undefined;
        if (rest) {
          try {
            this.consume(rest);
          } catch (error) {
            this.fail(error as Error);
            return;
          }
        }
        if (!this.blocked) this.stream.resume();
      },
      (error: Error) => this.fail(error),
    );
  }

  private answered(request: Pending): void {
    this.pending[this.pendingHead] = undefined as unknown as Pending;
    this.pendingHead++;
    if (this.pendingHead > 4096 && this.pendingHead * 2 > this.pending.length) {
      this.pending.splice(0, this.pendingHead);
      this.pendingHead = 0;
    }
    this.inflightBytes -= request.weight;
    if (this.windowWaiters.length > 0 && this.hasRoom) {
      const waiters = this.windowWaiters;
      this.windowWaiters = [];
      for (const waiter of waiters) waiter.resolve();
    }
    if (this.inflightRequests === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const waiter of waiters) waiter.resolve();
    }
  }
}
