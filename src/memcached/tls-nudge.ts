import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';

// memcached 1.6 over TLS (checked in 1.6.18 and 1.6.38: no SSL_pending anywhere)
// reads a connection with one SSL_read per wake-up. When a TLS record holds more
// than that read takes — the tail of a value read straight into its item, then
// the next requests — OpenSSL keeps the rest decrypted inside memcached, where
// epoll cannot see it: with the socket drained and the client waiting for
// replies, both sides wait for ever (a pipelined restore hung this way on its
// first window). New bytes wake memcached, which then reads what it held first.
// So a pipelined connection that hears nothing for a moment sends a request that
// has no reply: a quiet lookup (`q`: a miss answers nothing) of a key no client
// has. Sent only after whole requests (MetaConnection writes whole requests),
// and only on TLS, where the stall exists.

const quietMs = 20;

export class StallNudge {
  private timer: NodeJS.Timeout | undefined;
  private readonly request: Buffer;

  private constructor(
    private readonly stream: Duplex,
    private readonly waiting: () => boolean,
  ) {
    this.request = Buffer.from(`mg memplay:tls-nudge:${randomBytes(12).toString('hex')} q\r\n`, 'latin1');
  }

  /** A nudge for `stream` when it is a TLS connection; undefined otherwise. */
  static for(stream: Duplex, waiting: () => boolean): StallNudge | undefined {
    return stream instanceof TLSSocket ? new StallNudge(stream, waiting) : undefined;
  }

  /** Something was sent or received: start counting the quiet again. */
  rearm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fire(), quietMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private fire(): void {
    this.timer = undefined;
    if (!this.waiting() || this.stream.destroyed) return;
    this.stream.write(this.request);
    this.rearm();
  }
}
