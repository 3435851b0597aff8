// OpenSSH known_hosts, read the way `ssh -o StrictHostKeyChecking=yes` reads it:
// plain and hashed host fields, wildcard and negated patterns, `[host]:port` for
// a non-22 port, `@revoked` keys. `@cert-authority` lines are skipped, since this
// client does not verify host certificates.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';

export type KnownHostsMarker = 'revoked' | 'cert-authority';

export type HostField =
  | { readonly kind: 'patterns'; readonly patterns: readonly string[] }
  | { readonly kind: 'hashed'; readonly salt: Buffer; readonly hash: Buffer };

export interface KnownHostEntry {
  /** The file the entry was read from (set by loadKnownHosts), for messages. */
  readonly file?: string;
  /** 1-based line in the file, for messages. */
  readonly line: number;
  readonly marker?: KnownHostsMarker;
  readonly hosts: HostField;
  readonly keyType: string;
  readonly keyBlob: Buffer;
}

export interface KnownHosts {
  readonly path: string;
  /** The file does not exist: every host is unknown, and the message should say why. */
  readonly missing: boolean;
  readonly entries: readonly KnownHostEntry[];
}

export type HostKeyCheck =
  | { readonly status: 'match' }
  | { readonly status: 'unknown' }
  | {
      readonly status: 'changed';
      readonly expectedFingerprints: readonly string[];
      /** `file:line` of each entry that lists another key of the offered type. */
      readonly expectedAt: readonly string[];
    }
  | { readonly status: 'revoked'; readonly revokedAt: string };

/** Like `ssh-keygen -l`: `SHA256:` and unpadded base64 of the key blob's SHA-256. */
export function fingerprintSha256(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The algorithm name a public key blob starts with (`ssh-ed25519`, `ssh-rsa`, …). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return '';
  const length = keyBlob.readUInt32BE(0);
  if (length > keyBlob.length - 4) return '';
  return keyBlob.toString('latin1', 4, 4 + length);
}

/** The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  const lower = host.toLowerCase();
  return port === 22 ? lower : `[${lower}]:${port}`;
}

function parseHostField(field: string): HostField | undefined {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (salt === undefined || hash === undefined) return undefined;
    const saltBytes = Buffer.from(salt, 'base64');
    const hashBytes = Buffer.from(hash, 'base64');
    if (saltBytes.length === 0 || hashBytes.length !== 20) return undefined;
    return { kind: 'hashed', salt: saltBytes, hash: hashBytes };
  }
  const patterns = field.split(',').filter((p) => p !== '');
  return patterns.length === 0 ? undefined : { kind: 'patterns', patterns };
}

/** Parses known_hosts text; lines OpenSSH would reject are skipped, as ssh skips them. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    let marker: KnownHostsMarker | undefined;
    if (fields[0]?.startsWith('@')) {
      const name = fields.shift();
      if (name === '@revoked') marker = 'revoked';
      else if (name === '@cert-authority') marker = 'cert-authority';
      else return;
    }
    const [hostField, keyType, keyBase64] = fields;
    if (hostField === undefined || keyType === undefined || keyBase64 === undefined) return;
    const hosts = parseHostField(hostField);
    const keyBlob = Buffer.from(keyBase64, 'base64');
    // A blob whose embedded type disagrees with the declared one is corrupt.
    if (hosts === undefined || keyTypeOf(keyBlob) !== keyType) return;
    entries.push({ line: index + 1, ...(marker ? { marker } : {}), hosts, keyType, keyBlob });
  });
  return entries;
}

/**
 * A copy of the entry that holds nothing of the text it was parsed from. V8 keeps a
 * whole file's text alive behind any string split off it, and a small Buffer decoded
 * from base64 keeps its 8 kB pool slab: an entry kept for a connection's life kept
 * the fleet's whole known_hosts with it (49 kB a connection at 500 hosts).
 */
export function detachedEntry(entry: KnownHostEntry): KnownHostEntry {
  const text = (value: string) => Buffer.from(value, 'utf8').toString('utf8');
  const bytes = (value: Buffer) => {
    const copy = Buffer.allocUnsafeSlow(value.length);
    value.copy(copy);
    return copy;
  };
  const hosts: HostField =
    entry.hosts.kind === 'hashed'
      ? { kind: 'hashed', salt: bytes(entry.hosts.salt), hash: bytes(entry.hosts.hash) }
      : { kind: 'patterns', patterns: entry.hosts.patterns.map(text) };
  return { ...entry, hosts, keyType: text(entry.keyType), keyBlob: bytes(entry.keyBlob) };
}

/**
 * The last text read from each file and its entries: every connection of a run reads
 * the same fleet-wide file, and parsing its 500 lines for each of 500 hosts was 0.8 s
 * of the controller's CPU. Keyed by the text itself, so a file that changed (a key
 * added by --accept-new-host-keys, or by hand) is parsed again.
 */
const parsedFiles = new Map<string, { readonly text: string; readonly entries: readonly KnownHostEntry[] }>();

/** Reads a known_hosts file; a missing file is an empty list, flagged `missing`. */
export async function loadKnownHosts(path: string): Promise<KnownHosts> {
  try {
    const text = await readFile(path, 'utf8');
    const parsed = parsedFiles.get(path);
    if (parsed?.text === text) return { path, missing: false, entries: parsed.entries };
    const entries = parseKnownHosts(text).map((entry) => ({ ...entry, file: path }));
    parsedFiles.set(path, { text, entries });
    return { path, missing: false, entries };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { path, missing: true, entries: [] };
    throw error;
  }
}

const patternCache = new Map<string, RegExp>();

// OpenSSH's match_pattern: `*` is any run of characters, `?` exactly one, case-insensitive.
function wildcardMatches(pattern: string, name: string): boolean {
  let regex = patternCache.get(pattern);
  if (regex === undefined) {
    const body = pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
      .join('');
    regex = new RegExp(`^${body}$`, 'is');
    patternCache.set(pattern, regex);
  }
  return regex.test(name);
}

function hostFieldMatches(hosts: HostField, name: string): boolean {
  if (hosts.kind === 'hashed') {
    const digest = createHmac('sha1', hosts.salt).update(name).digest();
    return timingSafeEqual(digest, hosts.hash);
  }
  let positive = false;
  for (const pattern of hosts.patterns) {
    if (pattern.startsWith('!')) {
      // A matching negation rejects the line, whatever else on it matches.
      if (wildcardMatches(pattern.slice(1), name)) return false;
    } else if (wildcardMatches(pattern, name)) {
      positive = true;
    }
  }
  return positive;
}

/** The entries whose host field names `host` on `port` (excluding `@cert-authority`). */
export function entriesForHost(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
): KnownHostEntry[] {
  const name = knownHostsName(host, port);
  return entries.filter((e) => e.marker !== 'cert-authority' && hostFieldMatches(e.hosts, name));
}

/**
 * Decides whether to trust `keyBlob` for `host:port`, as OpenSSH does: a revoked
 * key is refused even if also listed as trusted; any listed key of the same type
 * that differs makes it `changed`; no entry of that type at all makes it `unknown`.
 */
export function checkHostKey(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
  keyType: string,
  keyBlob: Buffer,
): HostKeyCheck {
  let matched = false;
  const expectedFingerprints: string[] = [];
  const expectedAt: string[] = [];
  for (const entry of entriesForHost(entries, host, port)) {
    const sameKey = entry.keyBlob.equals(keyBlob);
    if (entry.marker === 'revoked') {
      if (sameKey) return { status: 'revoked', revokedAt: entryPlace(entry) };
    } else if (entry.keyType === keyType) {
      if (sameKey) matched = true;
      else {
        expectedFingerprints.push(fingerprintSha256(entry.keyBlob));
        expectedAt.push(entryPlace(entry));
      }
    }
  }
  if (matched) return { status: 'match' };
  if (expectedFingerprints.length > 0) return { status: 'changed', expectedFingerprints, expectedAt };
  return { status: 'unknown' };
}

/** `file:line` of an entry (`line N` when it was parsed from text). */
export function entryPlace(entry: KnownHostEntry): string {
  return entry.file !== undefined ? `${entry.file}:${entry.line}` : `line ${entry.line}`;
}
