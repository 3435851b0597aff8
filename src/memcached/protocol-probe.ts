import type { Duplex } from 'node:stream';
import { errorMessage } from '../errors.js';

// One-shot probes of the text and meta protocols, each on a connection of its
// own: a server that refuses a protocol may close the connection (`-B binary`
// drops a text command) or never answer, and that must not spoil the next
// probe. A probe never throws for what the server does: "does not answer" is
// its result. Keys given here must be printable ASCII without spaces.

export type StreamFactory = () => Promise<Duplex>;

export interface ProbeReply {
  /** A well-formed reply of the protocol came back (a miss is an answer too). */
  readonly answered: boolean;
  /** `VERSION 1.6.38`, `MN`, `hit`, `miss`, or what happened instead (`connection closed`, `no reply in 2000 ms`). */
  readonly reply: string;
}

export const probeTimeoutMs = 2000;

/** `printable ASCII, no space, at most 250 bytes`: a key every protocol (and memjs) can carry as-is. */
export function isProbeKey(key: Buffer): boolean {
  if (key.length === 0 || key.length > 250) return false;
  for (const byte of key) if (byte <= 0x20 || byte >= 0x7f) return false;
  return true;
}

/**
 * Sends `request` on a fresh connection and collects the reply until
 * `complete` says it is whole. Resolves with the bytes, or with why it is not
 * whole (closed, timed out, refused).
 */
export function exchange(
  open: StreamFactory,
  request: string,
  complete: (reply: Buffer) => boolean,
  timeoutMs = probeTimeoutMs,
): Promise<{ readonly reply: Buffer; readonly failure?: string }> {
  return new Promise((resolve) => {
    let reply = Buffer.alloc(0);
    let stream: Duplex | undefined;
    let settled = false;
    const finish = (failure?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      stream?.destroy();
      resolve(failure === undefined ? { reply } : { reply, failure });
    };
    const timer = setTimeout(() => finish(`no reply in ${timeoutMs} ms`), timeoutMs);
    open().then(
      (opened) => {
        stream = opened;
        if (settled) {
          opened.destroy();
          return;
        }
        opened.on('data', (chunk: Buffer) => {
          reply = Buffer.concat([reply, chunk]);
          if (complete(reply)) finish();
        });
        opened.on('error', (error: Error) => finish(`connection error: ${error.message}`));
        opened.on('close', () => finish('connection closed'));
        opened.on('end', () => finish('connection closed'));
        opened.write(request, 'latin1');
      },
      (error: unknown) => finish(`cannot connect: ${errorMessage(error)}`),
    );
  });
}

function firstLine(reply: Buffer): string | undefined {
  const lf = reply.indexOf(10);
  if (lf < 0) return undefined;
  return reply.toString('latin1', 0, reply[lf - 1] === 13 ? lf - 1 : lf);
}

/** A reply line that is an error of the protocol, not an answer (an unknown command, a refusal). */
function isErrorLine(line: string): boolean {
  return (
    line === 'ERROR' ||
    line.startsWith('ERROR ') ||
    line.startsWith('CLIENT_ERROR') ||
    line.startsWith('SERVER_ERROR')
  );
}

function lineReply(result: { reply: Buffer; failure?: string }, good: (line: string) => boolean): ProbeReply {
  const line = firstLine(result.reply);
  if (line === undefined) return { answered: false, reply: result.failure ?? 'no reply' };
  return { answered: good(line) && !isErrorLine(line), reply: line.slice(0, 120) };
}

/** Text `version`. */
export async function probeTextVersion(open: StreamFactory, timeoutMs = probeTimeoutMs): Promise<ProbeReply> {
  const result = await exchange(open, 'version\r\n', (reply) => reply.includes(10), timeoutMs);
  return lineReply(result, (line) => line.startsWith('VERSION '));
}

/** Length of a whole `VALUE <key> <flags> <bytes>` … `END` reply, or undefined while it is incomplete. */
function textGetComplete(reply: Buffer): boolean {
  const line = firstLine(reply);
  if (line === undefined) return false;
  if (!line.startsWith('VALUE ')) return true;
  const bytes = Number(line.split(' ')[3]);
  const headerLength = reply.indexOf(10) + 1;
  return Number.isInteger(bytes) && reply.length >= headerLength + bytes + 2 + 5;
}

/** Text `get <key>`: hit or miss, both answers. */
export async function probeTextGet(
  open: StreamFactory,
  key: string,
  timeoutMs = probeTimeoutMs,
): Promise<ProbeReply> {
  const result = await exchange(open, `get ${key}\r\n`, textGetComplete, timeoutMs);
  const line = firstLine(result.reply);
  if (line === undefined) return { answered: false, reply: result.failure ?? 'no reply' };
  if (line.startsWith('VALUE ') && result.failure === undefined) return { answered: true, reply: 'hit' };
  if (line === 'END') return { answered: true, reply: 'miss' };
  return { answered: false, reply: (result.failure ?? line).slice(0, 120) };
}

/** Meta no-op `mn`. */
export async function probeMetaNoop(open: StreamFactory, timeoutMs = probeTimeoutMs): Promise<ProbeReply> {
  const result = await exchange(open, 'mn\r\n', (reply) => reply.includes(10), timeoutMs);
  return lineReply(result, (line) => line === 'MN');
}

function metaGetComplete(reply: Buffer): boolean {
  const line = firstLine(reply);
  if (line === undefined) return false;
  if (!line.startsWith('VA ')) return true;
  const bytes = Number(line.split(' ')[1]);
  return Number.isInteger(bytes) && reply.length >= reply.indexOf(10) + 1 + bytes + 2;
}

/** Meta get `mg <key> v`: VA (hit), EN (miss). */
export async function probeMetaGet(
  open: StreamFactory,
  key: string,
  timeoutMs = probeTimeoutMs,
): Promise<ProbeReply> {
  const result = await exchange(open, `mg ${key} v\r\n`, metaGetComplete, timeoutMs);
  const line = firstLine(result.reply);
  if (line === undefined) return { answered: false, reply: result.failure ?? 'no reply' };
  if (line.startsWith('VA ') && result.failure === undefined) return { answered: true, reply: 'hit' };
  if (line === 'EN') return { answered: true, reply: 'miss' };
  return { answered: false, reply: (result.failure ?? line).slice(0, 120) };
}
