import type { Duplex } from 'node:stream';
import { readReplyLine } from './reply-line.js';

// memcached's ASCII authentication (1.6+, started with `-Y <authfile>`): until a
// connection has authenticated, every command line but a `set` is answered
// `CLIENT_ERROR unauthenticated` — `version` included. The credentials travel
// as the data block of a `set` whose key, flags and exptime are ignored:
//   set <any> 0 0 <len>\r\n<user> <password>\r\n  →  STORED | CLIENT_ERROR …
// memcached splits the data at spaces, so a user or password with a space (or
// a line break) can never match an authfile entry.

export interface MemcachedCredentials {
  readonly user: string;
  readonly password: string;
}

export class MemcachedAuthError extends Error {
  override name = 'MemcachedAuthError';
}

const replyTimeoutMs = 5000;

/** Why these credentials cannot work with memcached, or undefined. Never quotes them. */
export function credentialsProblem(credentials: MemcachedCredentials): string | undefined {
  const bad = /[\s\0]/;
  if (credentials.user === '' || credentials.password === '') return 'is empty';
  if (bad.test(credentials.user) || bad.test(credentials.password))
    return 'contains a space or a control character, which memcached cannot take';
  return undefined;
}

/** The bytes that authenticate a connection. */
export function authRequest(credentials: MemcachedCredentials): Buffer {
  const data = Buffer.from(`${credentials.user} ${credentials.password}`, 'utf8');
  return Buffer.concat([Buffer.from(`set memplay-auth 0 0 ${data.length}\r\n`), data, Buffer.from('\r\n')]);
}

/** Reads one reply line from a stream nothing else reads yet. */
function readLine(stream: Duplex, what: string): Promise<string> {
  return readReplyLine(stream, replyTimeoutMs, {
    noLine: () => new MemcachedAuthError(`memcached sent no reply line to ${what}`),
    closed: () => new MemcachedAuthError(`memcached closed the connection during ${what}`),
    timedOut: () =>
      new MemcachedAuthError(`memcached did not answer ${what} within ${replyTimeoutMs / 1000}s`),
  });
}

/**
 * Authenticates a fresh connection when memcached asks for it, and resolves
 * with the stream ready for commands; rejects with MemcachedAuthError (the
 * stream destroyed) when memcached refuses the credentials.
 *
 * A `version` goes first: a memcached started without `-Y` answers it, and the
 * credentials are then never sent — to such a server the `set` would store
 * them as an ordinary item, into the cache and from there into backups.
 * Each step waits for its one reply line, so no byte meant for the caller is read here.
 */
export async function authenticate(stream: Duplex, credentials: MemcachedCredentials): Promise<Duplex> {
  try {
    const greeting = readLine(stream, 'the version check before authentication');
    stream.write('version\r\n');
    const first = await greeting;
    if (first.startsWith('VERSION ')) return stream;
    if (first !== 'CLIENT_ERROR unauthenticated') {
      throw new MemcachedAuthError(`memcached answered version with ${first.slice(0, 120)}`);
    }
    const reply = readLine(stream, 'authentication');
    stream.write(authRequest(credentials));
    const line = await reply;
    if (line === 'STORED') return stream;
    throw new MemcachedAuthError(
      line === 'CLIENT_ERROR authentication failure'
        ? 'memcached refused the credentials (CLIENT_ERROR authentication failure)'
        : `memcached answered authentication with ${line.slice(0, 120)}`,
    );
  } catch (error) {
    stream.destroy();
    throw error;
  }
}
