import type { Duplex } from 'node:stream';

/** How a wait for one reply line can fall short, each said in the caller's words. */
export interface ReplyLineProblems {
  /** Over 1 KiB arrived without a line end: not a reply to what was sent. */
  readonly noLine: () => Error;
  /** The stream closed first. */
  readonly closed: () => Error;
  /** Nothing complete arrived within `timeoutMs`. */
  readonly timedOut: () => Error;
}

/**
 * Reads one `\r\n`-terminated reply line from a stream nothing else reads yet, then lets
 * go of it: the connection's later protocol (auth, then meta commands) reads what follows.
 */
export function readReplyLine(
  stream: Duplex,
  timeoutMs: number,
  problems: ReplyLineProblems,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const finish = (error: Error | undefined, line?: string) => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('error', onError);
      stream.off('close', onClose);
      if (error) reject(error);
      else resolve(line as string);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n');
      if (end >= 0) finish(undefined, received.slice(0, end));
      else if (received.length > 1024) finish(problems.noLine());
    };
    const onError = (error: Error) => finish(error);
    const onClose = () => finish(problems.closed());
    const timer = setTimeout(() => finish(problems.timedOut()), timeoutMs);
    stream.on('data', onData);
    stream.on('error', onError);
    stream.on('close', onClose);
  });
}
