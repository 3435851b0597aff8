import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { checkServerIdentity, connect, type DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { readReplyLine } from './reply-line.js';

// memcached with TLS (`-Z`, memcached 1.6 built with --enable-tls): a TLS client
// over any byte stream, an SSH tunnel included. memplay never falls back to
// plain TCP: a server that does not speak TLS, or whose certificate does not
// check out, is an error with its own type, never "nothing serves" (which would
// make memplay treat a running instance as stopped).

export interface TlsMaterial {
  /** PEM: the authorities the server's chain must lead to. */
  readonly ca: Buffer;
  /** PEM: presented when the server asks for a client certificate (`ssl_verify_mode`). */
  readonly cert?: Buffer;
  readonly key?: Buffer;
  /** What the server certificate must name: a DNS name (also sent as SNI) or an IP address. */
  readonly serverName: string;
}

export class MemcachedTlsError extends Error {
  override name = 'MemcachedTlsError';
}

const handshakeTimeoutMs = 5000;

/** The errors OpenSSL and node give when the peer's certificate does not check out. */
const certificateProblem = /CERT|SIGNATURE|ISSUER|ALTNAME|VERIFY/;
/** TLS 1.3: the server checks the client certificate after the client's handshake ended, and says so in an alert. */
const refusedByServer = /ALERT/;

function codeOf(error: unknown): string {
  return String((error as NodeJS.ErrnoException).code ?? '');
}

/**
 * The stream as a TLS connection whose server checked out, and which has
 * answered one `version` round trip (so a client certificate the server refuses
 * shows here, not on the caller's first command). Rejects with MemcachedTlsError
 * for a certificate that does not check out either way; with the handshake's own
 * error otherwise (the server closed, said something that is not TLS, or timed
 * out), for the caller to tell "plain memcached" from "nothing there".
 */
export async function startTls(stream: Duplex, material: TlsMaterial): Promise<TLSSocket> {
  const name = material.serverName;
  const socket = connect({
    socket: stream,
    ca: material.ca,
    ...(material.cert && material.key && { cert: material.cert, key: material.key }),
    // SNI carries names only (RFC 6066); an IP address is still checked against the certificate.
    ...(isIP(name) === 0 && { servername: name }),
    checkServerIdentity: (_host, certificate) => checkServerIdentity(name, certificate),
  });
  // The tunnel's stream is not a net.Socket: its end is not tied to the TLS socket's by itself.
  socket.once('close', () => stream.destroy());
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no TLS handshake within ${handshakeTimeoutMs / 1000}s`)),
        handshakeTimeoutMs,
      );
      const done = (error?: Error) => {
        clearTimeout(timer);
        socket.off('secureConnect', onSecure);
        socket.off('error', done);
        socket.off('close', onClose);
        if (error) reject(error);
        else resolve();
      };
      const onSecure = () => done();
      const onClose = () => done(new Error('the server closed the connection during the TLS handshake'));
      socket.once('secureConnect', onSecure);
      socket.once('error', done);
      socket.once('close', onClose);
    });
    const reply = await firstLine(socket);
    if (!reply.startsWith('VERSION ') && reply !== 'CLIENT_ERROR unauthenticated') {
      throw new MemcachedTlsError(`memcached answered version over TLS with ${reply.slice(0, 120)}`);
    }
    return socket;
  } catch (error) {
    socket.destroy();
    const code = codeOf(error);
    // An alert names what the server disliked, e.g. CERTIFICATE_REQUIRED: test it first.
    if (refusedByServer.test(code)) {
      throw new MemcachedTlsError(`memcached refused the TLS connection (${alertOf(error as Error)})`);
    }
    if (certificateProblem.test(code)) {
      throw new MemcachedTlsError(`the server's certificate does not check out: ${(error as Error).message}`);
    }
    throw error;
  }
}

/** OpenSSL's alert in words (`tlsv13 alert certificate required`), without its source file and line. */
function alertOf(error: Error): string {
  return /(?:tlsv1\d?|sslv3) alert [a-z ]+/.exec(error.message)?.[0] ?? error.message;
}

/** Sends `version` and reads the one reply line, leaving nothing read that the caller's protocol needs. */
function firstLine(socket: TLSSocket): Promise<string> {
  const line = readReplyLine(socket, handshakeTimeoutMs, {
    noLine: () => new MemcachedTlsError('memcached sent no reply line to version'),
    closed: () => new Error('memcached closed the TLS connection before answering version'),
    timedOut: () =>
      new Error(`memcached did not answer version over TLS within ${handshakeTimeoutMs / 1000}s`),
  });
  socket.write('version\r\n');
  return line;
}

/**
 * Asks a port that failed the TLS handshake whether a memcached answers there in
 * plain text: its first reply line to `version`, or null when nothing does.
 */
export function plainTextReply(stream: Duplex, timeoutMs = 2000): Promise<string | null> {
  return new Promise((resolve) => {
    let received = '';
    const finish = (line: string | null) => {
      clearTimeout(timer);
      stream.destroy();
      resolve(line);
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    stream.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n');
      if (end >= 0) finish(received.slice(0, end));
    });
    stream.once('error', () => finish(null));
    stream.once('close', () => finish(null));
    stream.write('version\r\n');
  });
}

/** What a TLS connection showed of its server: the chain it presented and the protocol agreed. */
export interface TlsPeer {
  /** sha256 (hex) of each certificate of the verified chain, leaf first. */
  readonly chain: readonly string[];
  /** The leaf's subject CN, for people. */
  readonly subject: string;
  /** e.g. `TLSv1.3`. */
  readonly protocol: string;
}

/** The peer of a TLS connection; null for a stream that is not one. */
export function tlsPeerOf(stream: Duplex): TlsPeer | null {
  if (!(stream instanceof TLSSocket)) return null;
  const leaf = stream.getPeerCertificate(true);
  const chain: string[] = [];
  let certificate: DetailedPeerCertificate | undefined = leaf;
  const seen = new Set<string>();
  // A self-signed root points at itself: stop at the first certificate seen twice.
  while (certificate?.raw && !seen.has(certificate.fingerprint256)) {
    seen.add(certificate.fingerprint256);
    chain.push(createHash('sha256').update(certificate.raw).digest('hex'));
    certificate = certificate.issuerCertificate;
  }
  return {
    chain,
    subject: String(leaf.subject?.CN ?? ''),
    protocol: stream.getProtocol() ?? 'unknown',
  };
}
