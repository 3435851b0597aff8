// A host's SSH settings: the playbook's own values first, then what the operator's
// ~/.ssh/config says for the host's address (as `ssh <address>` would read it), then
// memplay's defaults. Jump hosts (ssh.jump or ProxyJump) are looked up in the config too.

import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { portProblem, type SshConfigFile, type SshConfigHost } from '../transport/ssh-config.js';
import { type SshDocument, sshDefaults } from './document.generated.js';

export type { SshDocument } from './document.generated.js';

import type { JumpHost, SshSettings } from './types.js';

export interface SshContext {
  readonly homeDir: string;
  readonly userName: string;
  /** A controller path from the playbook, made absolute. */
  readonly local: (path: string) => string;
  /** The host's ssh config (none when `config_file: none`). */
  readonly config?: SshConfigFile;
  /** Told each config value refused (`file:line: Port 0 is not …`); the value is then not used. */
  readonly onConfigProblem?: (message: string) => void;
}

/** `config_file` as the host resolves it; undefined for `none`. */
export function sshConfigPath(
  ssh: SshDocument,
  local: (path: string) => string,
  fromEnvironment: string | undefined,
): string | undefined {
  const path = ssh.config_file ?? fromEnvironment ?? sshDefaults.config_file;
  return path === 'none' ? undefined : local(path);
}

// Some OpenSSH percent tokens, as ssh expands them in HostName and IdentityFile.
function expandTokens(value: string, tokens: Record<string, string>): string {
  return value.replace(/%(.)/g, (whole, letter: string) =>
    letter === '%' ? '%' : (tokens[letter] ?? whole),
  );
}

function configPath(value: string, homeDir: string): string {
  if (value === '~') return homeDir;
  if (value.startsWith('~/')) return resolvePath(homeDir, value.slice(2));
  return resolvePath(value);
}

// OpenSSH tries every IdentityFile that exists and skips the others; ssh2 takes one key,
// so the first that exists is used (none: only ssh-agent).
function firstIdentity(found: SshConfigHost, tokens: Record<string, string>, homeDir: string) {
  return found.identityFiles
    .map((file) => configPath(expandTokens(file, tokens), homeDir))
    .find((file) => existsSync(file));
}

/** The address to connect to and the settings for it, for a host the playbook lists at `alias`. */
export function resolveSsh(
  alias: string,
  ssh: SshDocument,
  context: SshContext,
): { address: string; ssh: SshSettings } {
  const { homeDir, userName, local, config } = context;
  const found = config?.lookup(alias) ?? { identityFiles: [], origins: {} };
  // Only a value the host would take from the config: the playbook's own wins over it.
  const overridden = new Set([
    ...(ssh.port !== undefined ? ['port'] : []),
    ...(ssh.connect_timeout !== undefined ? ['connecttimeout'] : []),
  ]);
  for (const { key, message } of found.invalid ?? []) {
    if (!overridden.has(key)) context.onConfigProblem?.(message);
  }
  const address = found.hostName !== undefined ? expandTokens(found.hostName, { h: alias }) : alias;
  const user = ssh.user ?? found.user ?? userName;
  const port = ssh.port ?? found.port ?? sshDefaults.port;
  const tokens = { h: address, n: alias, d: homeDir, u: userName, r: user, p: String(port) };
  const identityFile =
    ssh.identity_file !== undefined ? local(ssh.identity_file) : firstIdentity(found, tokens, homeDir);
  const [knownHosts, ...otherKnownHosts] = knownHostsFiles(ssh, found, tokens, context);
  const jumpSpec = ssh.jump ?? found.proxyJump;
  const jumps =
    jumpSpec === undefined || jumpSpec === 'none'
      ? []
      : jumpHosts(
          jumpSpec,
          ssh.jump === undefined ? found.origins.proxyjump : undefined,
          identityFile,
          {
            ...context,
            ...(config && { config }),
          },
          new Set([alias]),
        );
  return {
    address,
    ssh: {
      user,
      port,
      ...(identityFile !== undefined && { identityFile }),
      knownHosts: knownHosts as string,
      otherKnownHosts,
      connectTimeoutMs: Math.round(
        (ssh.connect_timeout ?? found.connectTimeout ?? sshDefaults.connect_timeout) * 1000,
      ),
      ...(jumps.length > 0 && { jumps }),
      ...(ssh.legacy_algorithms !== undefined &&
        ssh.legacy_algorithms.length > 0 && { legacyAlgorithms: ssh.legacy_algorithms }),
      ...(found.hostKeyAlias !== undefined && { hostKeyAlias: found.hostKeyAlias }),
      // A missing ~/.ssh/config is the common case, not worth a word in every message.
      ...(config && !config.missing && { configNote: configNote(alias, found, config) }),
    },
  };
}

// OpenSSH's defaults when neither the playbook nor the config names the files.
const defaultGlobalKnownHosts = ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'];

/**
 * Every known_hosts file `ssh` would read for the host, user files first: the playbook's
 * known_hosts (else the config's UserKnownHostsFile, else ~/.ssh/known_hosts and
 * ~/.ssh/known_hosts2), then GlobalKnownHostsFile (else /etc/ssh/ssh_known_hosts and
 * ssh_known_hosts2). A key pinned or revoked in any of them must count; the first is the
 * one --accept-new-host-keys appends to, as ssh does.
 */
function knownHostsFiles(
  ssh: SshDocument,
  found: SshConfigHost,
  tokens: Record<string, string>,
  { homeDir, local }: SshContext,
): string[] {
  const fromConfig = (files: readonly string[]) =>
    files
      .filter((file) => file.toLowerCase() !== 'none')
      .map((file) => configPath(expandTokens(file, tokens), homeDir));
  const defaultUser = local(sshDefaults.known_hosts);
  const user =
    ssh.known_hosts !== undefined
      ? [local(ssh.known_hosts)]
      : found.userKnownHostsFiles !== undefined && fromConfig(found.userKnownHostsFiles).length > 0
        ? fromConfig(found.userKnownHostsFiles)
        : [defaultUser, `${defaultUser}2`];
  const global =
    found.globalKnownHostsFiles !== undefined
      ? fromConfig(found.globalKnownHostsFiles)
      : defaultGlobalKnownHosts;
  return [...new Set([...user, ...global])];
}

/** `cache-a1 per ssh config: HostName 10.0.0.5 (/root/.ssh/config:4), …`: why a host is reached where it is. */
function configNote(alias: string, found: SshConfigHost, config: SshConfigFile): string {
  if (found.hostName === undefined) {
    return `${alias} has no HostName in ssh config ${config.path}, so it was used as the address`;
  }
  const shown: [string, string, string | number | undefined][] = [
    ['hostname', 'HostName', found.hostName],
    ['user', 'User', found.user],
    ['port', 'Port', found.port],
    ['proxyjump', 'ProxyJump', found.proxyJump],
  ];
  const parts = shown
    .filter(([key, , value]) => value !== undefined && found.origins[key] !== undefined)
    .map(([key, name, value]) => `${name} ${value} (${found.origins[key]})`);
  return `${alias} per ssh config: ${parts.join(', ')}`;
}

// ProxyJump's syntax: `[user@]host[:port]`, comma-separated, first hop first;
// one hop is also how `memplay init --from-running` takes a host.
export function parseJump(spec: string): { user?: string; host: string; port?: number } {
  const at = spec.lastIndexOf('@');
  const user = at >= 0 ? spec.slice(0, at) : undefined;
  const rest = at >= 0 ? spec.slice(at + 1) : spec;
  const bracketed = /^\[([^\]]+)\](?::([0-9]+))?$/.exec(rest);
  const plain = /^([^:]+)(?::([0-9]+))?$/.exec(rest);
  const [, host = rest, port] = bracketed ?? plain ?? [];
  return { ...(user ? { user } : {}), host, ...(port !== undefined && { port: Number(port) }) };
}

// A jump host is itself looked up in the config, as `ssh -J` does, so its own
// ProxyJump puts further hops before it. `seen` stops a config whose hops loop.
function jumpHosts(
  spec: string,
  /** `file:line` when the spec is a ProxyJump of the config (the playbook's ssh.jump is checked by validate). */
  specOrigin: string | undefined,
  targetIdentity: string | undefined,
  context: SshContext,
  seen: Set<string>,
): JumpHost[] {
  const { homeDir, userName, config } = context;
  const hops: JumpHost[] = [];
  spec.split(',').forEach((part, index) => {
    const label = part.trim();
    if (label === '') return;
    const { user: specUser, host, port: specPort } = parseJump(label);
    const portWhy = specPort === undefined ? undefined : portProblem(specPort);
    if (specOrigin !== undefined && portWhy !== undefined) {
      context.onConfigProblem?.(`${specOrigin}: ProxyJump ${spec}: port ${specPort} ${portWhy}`);
    }
    const found = config?.lookup(host) ?? { identityFiles: [], origins: {} };
    // A hop takes only its Port from its own config entry (and not when the spec names one).
    for (const { key, message } of found.invalid ?? []) {
      if (key === 'port' && specPort === undefined) context.onConfigProblem?.(message);
    }
    if (index === 0 && found.proxyJump !== undefined && found.proxyJump !== 'none' && !seen.has(host)) {
      hops.push(
        ...jumpHosts(
          found.proxyJump,
          found.origins.proxyjump,
          targetIdentity,
          context,
          new Set([...seen, host]),
        ),
      );
    }
    const address = found.hostName !== undefined ? expandTokens(found.hostName, { h: host }) : host;
    const user = specUser ?? found.user ?? userName;
    const port = specPort ?? found.port ?? sshDefaults.port;
    const tokens = { h: address, n: host, d: homeDir, u: userName, r: user, p: String(port) };
    // A bastion without its own IdentityFile is logged in to with the host's key (or the agent).
    const identityFile = firstIdentity(found, tokens, homeDir) ?? targetIdentity;
    hops.push({
      label,
      address,
      port,
      user,
      ...(identityFile !== undefined && { identityFile }),
      ...(found.hostKeyAlias !== undefined && { hostKeyAlias: found.hostKeyAlias }),
      ...(config && !config.missing && { configNote: configNote(host, found, config) }),
    });
  });
  return hops;
}
