// Trust on first use (`--accept-new-host-keys`), the way `ssh -o
// StrictHostKeyChecking=accept-new` does it: a host with no key at all in
// known_hosts gets its key appended as a plain `[addr]:port type base64` line;
// a host whose listed key differs is never touched.

import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { checkHostKey, fingerprintSha256, keyTypeOf, knownHostsName, loadKnownHosts } from './known-hosts.js';

/** The line ssh (HashKnownHosts no) writes for a new host: `[addr]:port type base64`, plain `addr` on port 22. */
export function knownHostsLine(address: string, port: number, keyBlob: Buffer): string {
  return `${knownHostsName(address, port)} ${keyTypeOf(keyBlob)} ${keyBlob.toString('base64')}`;
}

export type RecordedHostKey =
  | { readonly status: 'added'; readonly line: string; readonly fingerprint: string }
  /** Another connection of this run (same address and port) added it first. */
  | { readonly status: 'present'; readonly fingerprint: string }
  /** The file gained a different key since it was read: never overwritten. */
  | { readonly status: 'changed'; readonly expectedFingerprints: readonly string[] };

// Hosts connect in parallel and several may share a known_hosts file (or an
// address): appends to one file are serialised and each re-reads the file
// first, so a key is written once and a key added meanwhile is never overruled.
const fileLocks = new Map<string, Promise<unknown>>();

/** Appends the host's key to `path` unless it is there already; refuses if a different one is. */
export function recordHostKey(
  path: string,
  address: string,
  port: number,
  keyBlob: Buffer,
): Promise<RecordedHostKey> {
  const previous = fileLocks.get(path) ?? Promise.resolve();
  const next = previous.catch(() => {}).then(() => appendIfUnknown(path, address, port, keyBlob));
  fileLocks.set(path, next);
  return next;
}

async function appendIfUnknown(
  path: string,
  address: string,
  port: number,
  keyBlob: Buffer,
): Promise<RecordedHostKey> {
  const fingerprint = fingerprintSha256(keyBlob);
  const current = await loadKnownHosts(path);
  const verdict = checkHostKey(current.entries, address, port, keyTypeOf(keyBlob), keyBlob);
  if (verdict.status === 'match') return { status: 'present', fingerprint };
  if (verdict.status === 'changed') return verdict;
  if (verdict.status === 'revoked') return { status: 'changed', expectedFingerprints: [] };
  const line = knownHostsLine(address, port, keyBlob);
  if (current.missing) await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  // A file whose last line has no newline would otherwise be glued to ours.
  const text = current.missing ? '' : await readFile(path, 'utf8');
  const separator = text === '' || text.endsWith('\n') ? '' : '\n';
  await appendFile(path, `${separator}${line}\n`, { mode: 0o600 });
  return { status: 'added', line, fingerprint };
}
