// Which host keys an ssh connection trusts: strictly what known_hosts lists, like
// OpenSSH's StrictHostKeyChecking=yes, and with --accept-new-host-keys a host with
// no entry at all (never a changed or re-typed key), recorded only after login.
// Every file OpenSSH reads is searched: a key pinned or revoked in any of them counts.

import { HostUnreachable } from '../errors.js';
import {
  checkHostKey,
  detachedEntry,
  entriesForHost,
  entryPlace,
  fingerprintSha256,
  type KnownHostEntry,
  type KnownHosts,
  keyTypeOf,
  knownHostsName,
  loadKnownHosts,
} from './known-hosts.js';
import { recordHostKey } from './known-hosts-writer.js';
import { quote } from './quote.js';
import type { SshOptions } from './ssh-options.js';

// Like OpenSSH, ask first for the key types known_hosts already has for this host:
// otherwise a host known by its RSA key would offer ed25519 and look "unknown".
// `offered` is the whole list (ssh-algorithms.ts), which bounds what may be asked for:
// an RSA host is asked for SHA-2 signatures, and for ssh-rsa only when that is offered.
export function preferredHostKeyAlgorithms(
  knownTypes: readonly string[],
  offered: readonly string[],
): string[] {
  const preferred = knownTypes
    .flatMap((type) => (type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type]))
    .filter((algorithm, index, all) => offered.includes(algorithm) && all.indexOf(algorithm) === index);
  return [...preferred, ...offered.filter((a) => !preferred.includes(a))];
}

function describeHost(address: string, port: number): string {
  return knownHostsName(address, port);
}

/** The name and port the host key is looked up under, as OpenSSH does with HostKeyAlias. */
export function keyName(options: SshOptions): { address: string; port: number } {
  return options.hostKeyAlias !== undefined
    ? { address: options.hostKeyAlias, port: 22 }
    : { address: options.address, port: options.port };
}

/**
 * Every known_hosts file this connection trusts, read as OpenSSH reads them: the user
 * files (UserKnownHostsFile, or ssh.known_hosts) then the global ones
 * (GlobalKnownHostsFile), all searched together. `writeTo` is the first user file,
 * the only one --accept-new-host-keys ever appends to.
 */
export interface TrustedHostKeys {
  readonly writeTo: string;
  /** The files searched, for messages: what they said of this host is `entries`. */
  readonly files: readonly Pick<KnownHosts, 'path' | 'missing'>[];
  /**
   * The lines of every file that name this host (revoked ones too), nothing else: the
   * host verifier keeps them for as long as the connection is open, and a fleet's
   * known_hosts lists the whole fleet (all 500 lines held by each of 500 connections
   * was 400 kB of the controller's heap a host).
   */
  readonly entries: readonly KnownHostEntry[];
}

/** The files read for this connection, the one written first, duplicates once. */
export function knownHostsPaths(options: SshOptions): string[] {
  return [...new Set([options.knownHostsFile, ...(options.otherKnownHostsFiles ?? [])])];
}

/** Every known_hosts file for this connection; an unreadable one is a refusal, a missing one is empty. */
export async function knownHostsFor(options: SshOptions): Promise<TrustedHostKeys> {
  const files: KnownHosts[] = [];
  const { address, port } = keyName(options);
  for (const path of knownHostsPaths(options)) {
    try {
      files.push(await loadKnownHosts(path));
    } catch (error) {
      throw new HostUnreachable(
        options.hostName,
        'host-key-unknown',
        `cannot read known_hosts ${path}: ${(error as Error).message}; check ssh.known_hosts and the ssh ` +
          "config's UserKnownHostsFile and GlobalKnownHostsFile",
      );
    }
  }
  return {
    writeTo: options.knownHostsFile,
    files: files.map(({ path, missing }) => ({ path, missing })),
    entries: entriesForHost(
      files.flatMap((file) => file.entries),
      address,
      port,
    ).map(detachedEntry),
  };
}

/** The entries that vouch for a key of this host (not `@revoked` ones, which only refuse). */
function trustedEntries(options: SshOptions, knownHosts: TrustedHostKeys): KnownHostEntry[] {
  const { address, port } = keyName(options);
  return entriesForHost(knownHosts.entries, address, port).filter((e) => e.marker === undefined);
}

/** The key types known_hosts lists (unmarked) for this host, to negotiate those first. */
export function knownKeyTypes(options: SshOptions, knownHosts: TrustedHostKeys): string[] {
  return trustedEntries(options, knownHosts).map((e) => e.keyType);
}

/** `a, b (which does not exist) and c`: the files searched, for messages. */
function searched(knownHosts: TrustedHostKeys): string {
  const names = knownHosts.files.map(
    (file) => `${file.path}${file.missing ? ' (which does not exist)' : ''}`,
  );
  if (names.length <= 1) return names[0] ?? knownHosts.writeTo;
  return `any of ${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
}

/** Why the offered key is not trusted, or undefined when it matches known_hosts. */
export function hostKeyRefusal(
  options: SshOptions,
  knownHosts: TrustedHostKeys,
  key: Buffer,
): HostUnreachable | undefined {
  const { hostName } = options;
  const { address, port } = keyName(options);
  const keyType = keyTypeOf(key);
  const offered = `${keyType} ${fingerprintSha256(key)}`;
  const where = describeHost(address, port);
  const verdict = checkHostKey(knownHosts.entries, address, port, keyType, key);
  switch (verdict.status) {
    case 'match':
      return undefined;
    case 'unknown': {
      const listed = trustedEntries(options, knownHosts);
      const listedTypes = [...new Set(listed.map((e) => e.keyType))];
      const firstUse =
        options.acceptNewHostKeys && listed.length > 0
          ? `; --accept-new-host-keys does not apply: ${listed.map(entryPlace).join(', ')} already ` +
            `list${listed.length === 1 ? 's' : ''} a ${listedTypes.join(', ')} key for it, and a host that ` +
            'switched key type is treated like one whose key changed'
          : ', or run again with --accept-new-host-keys to trust it on first use';
      const keyscan =
        port === 22 ? `ssh-keyscan ${quote(address)}` : `ssh-keyscan -p ${port} ${quote(address)}`;
      return new HostUnreachable(
        hostName,
        'host-key-unknown',
        `host key for ${where} is not in ${searched(knownHosts)} (${offered}); ` +
          `verify it and add it, e.g. ${keyscan} >> ${quote(knownHosts.writeTo)}${firstUse}`,
      );
    }
    case 'changed':
      return new HostUnreachable(
        hostName,
        'host-key-changed',
        `HOST KEY FOR ${where} HAS CHANGED: it offered ${offered}, ${verdict.expectedAt.join(', ')} expect` +
          `${verdict.expectedAt.length === 1 ? 's' : ''} ${verdict.expectedFingerprints.join(' or ')}. Someone may ` +
          'be intercepting the connection (man-in-the-middle attack), or the host was reinstalled. Nothing was run ' +
          'on it; verify the new key out of band, then remove the old one with ' +
          `${removeCommands(where, verdict.expectedAt)} (--accept-new-host-keys never accepts a changed key)`,
      );
    case 'revoked':
      return new HostUnreachable(
        hostName,
        'host-key-changed',
        `host key for ${where} (${offered}) is marked @revoked at ${verdict.revokedAt}; refusing to connect. ` +
          'The host must be given a new key before it can be managed (--accept-new-host-keys never accepts ' +
          'a revoked key)',
      );
  }
}

// One ssh-keygen -R per file that holds an old key: it edits one file at a time.
function removeCommands(where: string, places: readonly string[]): string {
  const files = [...new Set(places.map((place) => place.slice(0, place.lastIndexOf(':'))))];
  return files.map((file) => `ssh-keygen -R ${quote(where)} -f ${quote(file)}`).join(' and ');
}

// Only a host with no entry at all: one listed under another key type that
// now offers a different type is as suspicious as a changed key.
// `@revoked` lines name keys, not hosts (`@revoked * …` is the usual form): they refuse
// that key everywhere but do not make a host known, as in OpenSSH.
export function acceptsAsNew(options: SshOptions, knownHosts: TrustedHostKeys): boolean {
  return options.acceptNewHostKeys === true && trustedEntries(options, knownHosts).length === 0;
}

/**
 * Appends a key accepted on first use to known_hosts. `dropConnection` is called
 * before refusing, so a host whose key cannot be recorded is not kept connected.
 */
export async function recordNewHostKey(
  options: SshOptions,
  key: Buffer,
  dropConnection: () => void,
): Promise<void> {
  const { hostName, knownHostsFile } = options;
  const { address, port } = keyName(options);
  const where = describeHost(address, port);
  const refuse = (message: string): never => {
    dropConnection();
    throw new HostUnreachable(hostName, 'host-key-unknown', message);
  };
  let recorded: Awaited<ReturnType<typeof recordHostKey>>;
  try {
    recorded = await recordHostKey(knownHostsFile, address, port, key);
  } catch (error) {
    return refuse(
      `cannot add the host key for ${where} to ${knownHostsFile} (${(error as Error).message}); nothing was ` +
        'run on it — make the file writable, or add the key by hand',
    );
  }
  if (recorded.status === 'changed') {
    return refuse(
      `host key for ${where} (${fingerprintSha256(key)}) was not added: ${knownHostsFile} gained a different ` +
        `key for it during this run (${recorded.expectedFingerprints.join(' or ') || 'revoked'}); nothing was ` +
        'run on it — verify which key is right',
    );
  }
  if (recorded.status === 'added') {
    options.onHostKeyAccepted?.({
      host: hostName,
      name: where,
      knownHostsFile,
      keyType: keyTypeOf(key),
      fingerprint: recorded.fingerprint,
    });
  }
}
