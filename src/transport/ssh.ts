// The ssh transport: one ssh2 connection per host, shared by every command, upload
// and TCP tunnel of that host. Host keys are checked strictly against known_hosts
// before authentication, so nothing is ever sent to a host that cannot prove it is
// the one we know.

import { readFile, stat } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import ssh2, {
  type ClientChannel,
  type ConnectConfig,
  type SFTPWrapper,
  type Client as Ssh2Client,
} from 'ssh2';

// ssh2 is CommonJS: Node's ESM loader cannot see its named exports at run time.
const { Client, utils } = ssh2;
type Client = Ssh2Client;

import { HostUnreachable } from '../errors.js';
import { addressAndPort } from '../memcached/listen-address.js';
import {
  CommandSlots,
  commandRecorder,
  exitCodeForSignal,
  type RawRunResult,
  type RawTransport,
  type TransportHooks,
} from './command-events.js';
import {
  checkHostKey,
  entriesForHost,
  fingerprintSha256,
  type KnownHosts,
  keyTypeOf,
  knownHostsName,
  loadKnownHosts,
} from './known-hosts.js';
import { recordHostKey } from './known-hosts-writer.js';
import { quote, type ShellCommand } from './quote.js';
import type { HeldCommand, RunOptions, RunResult, UploadProgress } from './transport.js';

export interface SshOptions extends TransportHooks {
  /** The inventory name, used in every message. */
  readonly hostName: string;
  readonly address: string;
  readonly port: number;
  readonly user: string;
  /** Absent means ssh-agent only. */
  readonly identityFile?: string;
  readonly knownHostsFile: string;
  readonly connectTimeoutMs: number;
  /** Defaults to `$SSH_AUTH_SOCK`. */
  readonly agentSocket?: string;
  /** For an encrypted identity file; defaults to `$MEMPLAY_SSH_PASSPHRASE`. */
  readonly passphrase?: string;
  /** sshd's MaxSessions defaults to 10 and the SFTP session needs one; beyond this, commands queue. */
  readonly maxConcurrentCommands?: number;
  /** Trust a host with no key in known_hosts and append its key there (never a changed key). */
  readonly acceptNewHostKeys?: boolean;
  /** Called once a new host key was appended to known_hosts. */
  readonly onHostKeyAccepted?: (accepted: AcceptedHostKey) => void;
  /** A channel through a jump host to speak ssh over, instead of a TCP connection of our own. */
  readonly sock?: Duplex;
  /** The jump host `sock` goes through, for messages. */
  readonly via?: string;
  /** The ssh config's HostKeyAlias: known_hosts is searched for this name instead of `[address]:port`. */
  readonly hostKeyAlias?: string;
  /** Where the ssh config placed the host; added to messages about reaching it. */
  readonly configNote?: string;
}

export interface AcceptedHostKey {
  readonly host: string;
  /** `[addr]:port` as written to the file. */
  readonly name: string;
  readonly knownHostsFile: string;
  readonly keyType: string;
  /** `SHA256:…` as ssh-keygen -l prints it. */
  readonly fingerprint: string;
}

// ssh2's default preference, which it negotiates in this order unless told otherwise.
const hostKeyAlgorithms = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

// Like OpenSSH, ask first for the key types known_hosts already has for this host:
// otherwise a host known by its RSA key would offer ed25519 and look "unknown".
function preferredHostKeyAlgorithms(knownTypes: readonly string[]): string[] | undefined {
  const preferred = knownTypes
    .flatMap((type) => (type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [type]))
    .filter(
      (algorithm, index, all) => hostKeyAlgorithms.includes(algorithm) && all.indexOf(algorithm) === index,
    );
  if (preferred.length === 0) return undefined;
  return [...preferred, ...hostKeyAlgorithms.filter((a) => !preferred.includes(a))];
}

function describeHost(address: string, port: number): string {
  return knownHostsName(address, port);
}

/** The name and port the host key is looked up under, as OpenSSH does with HostKeyAlias. */
function keyName(options: SshOptions): { address: string; port: number } {
  return options.hostKeyAlias !== undefined
    ? { address: options.hostKeyAlias, port: 22 }
    : { address: options.address, port: options.port };
}

function hostKeyRefusal(
  options: SshOptions,
  knownHosts: KnownHosts,
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
      const absent = knownHosts.missing ? ', which does not exist' : '';
      const listedTypes = entriesForHost(knownHosts.entries, address, port).map((e) => e.keyType);
      const firstUse =
        options.acceptNewHostKeys && listedTypes.length > 0
          ? `; --accept-new-host-keys does not apply: ${knownHosts.path} already lists a ` +
            `${[...new Set(listedTypes)].join(', ')} key for it, and a host that switched key type is ` +
            'treated like one whose key changed'
          : ', or run again with --accept-new-host-keys to trust it on first use';
      const keyscan =
        port === 22 ? `ssh-keyscan ${quote(address)}` : `ssh-keyscan -p ${port} ${quote(address)}`;
      return new HostUnreachable(
        hostName,
        'host-key-unknown',
        `host key for ${where} is not in ${knownHosts.path}${absent} (${offered}); ` +
          `verify it and add it, e.g. ${keyscan} >> ${quote(knownHosts.path)}${firstUse}`,
      );
    }
    case 'changed':
      return new HostUnreachable(
        hostName,
        'host-key-changed',
        `HOST KEY FOR ${where} HAS CHANGED: it offered ${offered}, ${knownHosts.path} expects ` +
          `${verdict.expectedFingerprints.join(' or ')}. Someone may be intercepting the connection ` +
          `(man-in-the-middle attack), or the host was reinstalled. Nothing was run on it; verify the new key ` +
          `out of band, then remove the old one with ssh-keygen -R ${quote(where)} -f ${quote(knownHosts.path)} ` +
          `(--accept-new-host-keys never accepts a changed key)`,
      );
    case 'revoked':
      return new HostUnreachable(
        hostName,
        'host-key-changed',
        `host key for ${where} (${offered}) is marked @revoked in ${knownHosts.path}; refusing to connect. ` +
          `The host must be given a new key before it can be managed`,
      );
  }
}

async function readIdentity(options: SshOptions): Promise<{ key: Buffer; passphrase?: string } | undefined> {
  const { identityFile, hostName } = options;
  if (identityFile === undefined) return undefined;
  let key: Buffer;
  try {
    key = await readFile(identityFile);
  } catch (error) {
    throw new HostUnreachable(
      hostName,
      'auth',
      `cannot read identity file ${identityFile}: ${(error as Error).message}; check ssh.identity_file`,
    );
  }
  const passphrase = options.passphrase ?? process.env.MEMPLAY_SSH_PASSPHRASE;
  const parsed = utils.parseKey(key, passphrase);
  if (parsed instanceof Error) {
    const encrypted = /passphrase|encrypted|decrypt/i.test(parsed.message);
    const next = encrypted
      ? passphrase === undefined
        ? 'it is encrypted: set MEMPLAY_SSH_PASSPHRASE, or load it into ssh-agent and drop ssh.identity_file'
        : 'MEMPLAY_SSH_PASSPHRASE does not decrypt it'
      : 'check that ssh.identity_file points to a private key';
    throw new HostUnreachable(
      hostName,
      'auth',
      `cannot use identity file ${identityFile} (${parsed.message}); ${next}`,
    );
  }
  return passphrase === undefined ? { key } : { key, passphrase };
}

function connectError(
  options: SshOptions,
  error: Error & { level?: string; code?: string },
): HostUnreachable {
  const { hostName, address, port, user, identityFile } = options;
  const where = `${address}:${port}${options.via ? ` via jump host ${options.via}` : ''}`;
  const placed = options.configNote ? ` (${options.configNote})` : '';
  if (error.level === 'client-authentication') {
    const agent = options.agentSocket ?? process.env.SSH_AUTH_SOCK;
    const tried = [identityFile ? `key ${identityFile}` : '', agent ? `ssh-agent at ${agent}` : '']
      .filter((t) => t !== '')
      .join(' and ');
    return new HostUnreachable(
      hostName,
      'auth',
      `ssh authentication as ${user} on ${where} failed (tried ${tried}); check ssh.identity_file / ssh-agent ` +
        `and that the public key is in ${user}'s authorized_keys`,
    );
  }
  if (error.level === 'client-timeout') {
    return new HostUnreachable(
      hostName,
      'timeout',
      `no ssh handshake with ${where} within ${options.connectTimeoutMs} ms${placed}; check the address and ` +
        `that sshd is up, or raise ssh.connect_timeout`,
    );
  }
  if (error.code === 'ETIMEDOUT') {
    return new HostUnreachable(
      hostName,
      'timeout',
      `connecting to ${where} timed out${placed}; check the address`,
    );
  }
  const hint =
    error.code === 'ECONNREFUSED'
      ? 'is sshd running and listening on that port?'
      : error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN'
        ? 'check the host address'
        : 'check the address, port and network';
  return new HostUnreachable(
    hostName,
    'connect',
    `cannot connect to ${where}: ${error.message}${placed}; ${hint}`,
  );
}

/** Opens and authenticates one ssh connection; rejects with HostUnreachable before running anything. */
export async function connectSsh(options: SshOptions): Promise<RawTransport> {
  return new SshTransport(await openSshClient(options), options);
}

/** The authenticated ssh2 client under connectSsh; jump hosts use it bare, to forward through. */
export async function openSshClient(options: SshOptions): Promise<Client> {
  const { hostName, address, port, user } = options;
  let knownHosts: KnownHosts;
  try {
    knownHosts = await loadKnownHosts(options.knownHostsFile);
  } catch (error) {
    throw new HostUnreachable(
      hostName,
      'host-key-unknown',
      `cannot read known_hosts ${options.knownHostsFile}: ${(error as Error).message}; check ssh.known_hosts`,
    );
  }
  const identity = await readIdentity(options);
  const agent = options.agentSocket ?? process.env.SSH_AUTH_SOCK;
  if (identity === undefined && !agent) {
    throw new HostUnreachable(
      hostName,
      'auth',
      `no way to authenticate as ${user}: ssh.identity_file is not set and SSH_AUTH_SOCK is empty; ` +
        `set ssh.identity_file or start ssh-agent`,
    );
  }

  const client = new Client();
  let refusal: HostUnreachable | undefined;
  /** Set when the key is unknown and --accept-new-host-keys trusts it: recorded once the login succeeded. */
  let newHostKey: Buffer | undefined;
  const knownTypes = entriesForHost(knownHosts.entries, keyName(options).address, keyName(options).port)
    .filter((e) => e.marker === undefined)
    .map((e) => e.keyType);
  const serverHostKey = preferredHostKeyAlgorithms(knownTypes);
  const config: ConnectConfig = {
    host: address,
    port,
    username: user,
    readyTimeout: options.connectTimeoutMs,
    keepaliveInterval: 15_000,
    keepaliveCountMax: 4,
    ...(identity ? { privateKey: identity.key } : {}),
    ...(identity?.passphrase !== undefined ? { passphrase: identity.passphrase } : {}),
    ...(agent ? { agent } : {}),
    ...(serverHostKey ? { algorithms: { serverHostKey: serverHostKey as never } } : {}),
    ...(options.sock ? { sock: options.sock } : {}),
    hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
      refusal = hostKeyRefusal(options, knownHosts, key);
      if (refusal?.reason === 'host-key-unknown' && acceptsAsNew(options, knownHosts)) {
        refusal = undefined;
        newHostKey = key;
      }
      verify(refusal === undefined);
    },
  };

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error & { level?: string; code?: string }) => {
      cleanup();
      // Tearing down a half-open connection makes ssh2 emit more errors ("Connection lost
      // before handshake"); unheard, they would crash the process.
      client.on('error', () => {});
      client.destroy();
      reject(refusal ?? connectError(options, error));
    };
    const onClose = () => {
      cleanup();
      reject(
        refusal ??
          new HostUnreachable(
            hostName,
            'disconnected',
            `${address}:${port}${options.via ? ` (via jump host ${options.via})` : ''} closed the connection ` +
              'during the handshake',
          ),
      );
    };
    const onReady = () => {
      cleanup();
      // Nagle on the controller's socket held the memcached replies of a pipelined
      // batch behind the server's delayed ACK: 40 ms stalls in 1 batch of ~30
      // through the tunnel (p99 43 ms, against 1.6 ms with it off), which made the
      // performance gate's pipelined figures noise. A no-op on a jump channel.
      client.setNoDelay(true);
      resolve();
    };
    const cleanup = () => {
      client.off('error', onError).off('close', onClose).off('ready', onReady);
    };
    client.on('error', onError).on('close', onClose).on('ready', onReady);
    try {
      client.connect(config);
    } catch (error) {
      onError(error as Error);
    }
  });

  // ssh2 asks hostVerifier before it checks the server's signature, so a key is
  // only written once the host proved it holds it (the login completed).
  if (newHostKey !== undefined) await recordNewHostKey(client, options, newHostKey);
  return client;
}

// Only a host with no entry at all: one listed under another key type that
// now offers a different type is as suspicious as a changed key.
function acceptsAsNew(options: SshOptions, knownHosts: KnownHosts): boolean {
  return (
    options.acceptNewHostKeys === true &&
    entriesForHost(knownHosts.entries, keyName(options).address, keyName(options).port).length === 0
  );
}

async function recordNewHostKey(client: Client, options: SshOptions, key: Buffer): Promise<void> {
  const { hostName, knownHostsFile } = options;
  const { address, port } = keyName(options);
  const where = describeHost(address, port);
  const refuse = (message: string): never => {
    client.destroy();
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

class SshTransport implements RawTransport {
  readonly hostName: string;
  private readonly slots: CommandSlots;
  private sftp: Promise<SFTPWrapper> | undefined;
  private closing: Promise<void> | undefined;
  private connected = true;
  private lastError: Error | undefined;

  constructor(
    private readonly client: Client,
    private readonly options: SshOptions,
  ) {
    this.hostName = options.hostName;
    this.slots = new CommandSlots(options.maxConcurrentCommands ?? 8);
    // After `ready`, errors surface through the commands they break; keep the cause for their message.
    client.on('error', (error) => {
      this.lastError = error;
    });
    client.on('close', () => {
      this.connected = false;
    });
  }

  private disconnected(doing: string): Error {
    if (this.closing) return new Error(`${this.hostName}: connection already closed; cannot ${doing}`);
    const cause = this.lastError ? ` (${this.lastError.message})` : '';
    return new HostUnreachable(
      this.hostName,
      'disconnected',
      `ssh connection to ${this.options.address}:${this.options.port} was lost${cause} while trying to ${doing}; ` +
        `the command may or may not have completed on the host`,
    );
  }

  async run(command: ShellCommand, options?: RunOptions): Promise<RunResult> {
    const raw = await this.runRaw(command, options);
    return { code: raw.code, stdout: raw.stdout.toString('utf8'), stderr: raw.stderr.toString('utf8') };
  }

  async runRaw(command: ShellCommand, options: RunOptions = {}): Promise<RawRunResult> {
    const release = await this.slots.acquire();
    const started = Date.now();
    try {
      return await this.exec(command, options, started);
    } finally {
      release();
    }
  }

  private exec(command: ShellCommand, options: RunOptions, started: number): Promise<RawRunResult> {
    const text = command.text;
    const doing = `run: ${text}`;
    return new Promise((resolve, reject) => {
      if (!this.connected) {
        reject(this.disconnected(doing));
        return;
      }
      this.client.exec(text, (error, channel) => {
        if (error) {
          reject(
            this.connected
              ? new Error(`${this.hostName}: cannot start command (${error.message}): ${text}`)
              : this.disconnected(doing),
          );
          return;
        }
        this.collect(channel, command, options, started).then(resolve, reject);
      });
    });
  }

  private collect(
    channel: ClientChannel,
    command: ShellCommand,
    options: RunOptions,
    started: number,
  ): Promise<RawRunResult> {
    const text = command.text;
    return new Promise((resolve, reject) => {
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      let code: number | undefined;
      let signalNote = '';
      let timedOut = false;
      channel.on('data', (chunk: Buffer) => stdout.push(chunk));
      channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
      channel.on(
        'exit',
        (exitCode: number | null, signal?: string, _core?: boolean, description?: string) => {
          if (typeof exitCode === 'number') {
            code = exitCode;
          } else if (signal) {
            code = exitCodeForSignal(signal);
            signalNote = `\n[memplay: killed by signal ${signal}${description ? `: ${description}` : ''}]\n`;
          }
        },
      );
      const record = commandRecorder(this.options, this.hostName, text, started);
      const timer =
        options.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              // Without a pty, closing the channel alone may leave the remote process running.
              channel.signal('KILL');
              channel.close();
              reject(record.timedOut(stdout, stderr, options.timeoutMs as number));
            }, options.timeoutMs);
      channel.on('close', () => {
        clearTimeout(timer);
        if (timedOut) return;
        if (code === undefined && !this.connected) {
          reject(this.disconnected(`run: ${text}`));
          return;
        }
        if (code === undefined) signalNote = '\n[memplay: the command ended without an exit status]\n';
        const result: RawRunResult = {
          code: code ?? -1,
          stdout: Buffer.concat(stdout),
          stderr: signalNote ? Buffer.concat([...stderr, Buffer.from(signalNote)]) : Buffer.concat(stderr),
        };
        record.finished(result);
        resolve(result);
      });
      if (options.stdin !== undefined) channel.end(options.stdin);
      else channel.end();
    });
  }

  private sftpSession(): Promise<SFTPWrapper> {
    if (!this.sftp) {
      const session = new Promise<SFTPWrapper>((resolve, reject) => {
        this.client.sftp((error, sftp) => {
          if (error) {
            reject(error);
            return;
          }
          sftp.on('close', () => {
            if (this.sftp === session) this.sftp = undefined;
          });
          resolve(sftp);
        });
      });
      this.sftp = session;
      session.catch(() => {
        if (this.sftp === session) this.sftp = undefined;
      });
    }
    return this.sftp;
  }

  async upload(
    localPath: string,
    remotePath: string,
    onProgress?: (p: UploadProgress) => void,
  ): Promise<void> {
    const doing = `upload ${localPath} to ${remotePath}`;
    if (!this.connected) throw this.disconnected(doing);
    const { size } = await stat(localPath);
    let reported = -1;
    try {
      const sftp = await this.sftpSession();
      await new Promise<void>((resolve, reject) => {
        sftp.fastPut(
          localPath,
          remotePath,
          {
            step: (transferred, _chunk, total) => {
              reported = transferred;
              onProgress?.({ transferred, total });
            },
          },
          (error) => (error ? reject(error) : resolve()),
        );
      });
    } catch (error) {
      if (!this.connected) throw this.disconnected(doing);
      const message = (error as Error).message;
      const hint = /subsystem/i.test(message)
        ? '; enable SFTP in sshd_config (Subsystem sftp internal-sftp)'
        : '; check that the remote directory exists and is writable';
      throw new Error(`${this.hostName}: cannot ${doing}: ${message}${hint}`);
    }
    if (reported !== size) onProgress?.({ transferred: size, total: size });
  }

  async download(remotePath: string, localPath: string): Promise<void> {
    const doing = `download ${remotePath} to ${localPath}`;
    if (!this.connected) throw this.disconnected(doing);
    try {
      const sftp = await this.sftpSession();
      await new Promise<void>((resolve, reject) => {
        sftp.fastGet(remotePath, localPath, (error) => (error ? reject(error) : resolve()));
      });
    } catch (error) {
      if (!this.connected) throw this.disconnected(doing);
      throw new Error(`${this.hostName}: cannot ${doing}: ${(error as Error).message}`);
    }
  }

  openTcp(port: number, address = '127.0.0.1'): Promise<Duplex> {
    const where = addressAndPort(address, port);
    const doing = `open a tunnel to ${where}`;
    return new Promise((resolve, reject) => {
      if (!this.connected) {
        reject(this.disconnected(doing));
        return;
      }
      this.client.forwardOut('127.0.0.1', 0, address, port, (error, channel) => {
        if (error) {
          reject(
            this.connected
              ? new Error(
                  `${this.hostName}: cannot ${doing} through ssh (${error.message}); is something listening ` +
                    `on ${where} there, and does sshd allow TCP forwarding (AllowTcpForwarding)?`,
                )
              : this.disconnected(doing),
          );
          return;
        }
        resolve(channel);
      });
    });
  }

  hold(command: ShellCommand): Promise<HeldCommand> {
    const doing = `run: ${command.text}`;
    return new Promise((resolve, reject) => {
      if (!this.connected) {
        reject(this.disconnected(doing));
        return;
      }
      this.client.exec(command.text, (error, channel) => {
        if (error) {
          reject(
            this.connected
              ? new Error(`${this.hostName}: cannot start ${command.text}: ${error.message}`)
              : this.disconnected(doing),
          );
          return;
        }
        resolve(heldChannel(channel));
      });
    });
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      if (!this.connected) {
        resolve();
        return;
      }
      // A server that never answers the disconnect must not hang the run.
      const fallback = setTimeout(() => this.client.destroy(), 5_000);
      this.client.once('close', () => {
        clearTimeout(fallback);
        resolve();
      });
      this.client.end();
    });
    return this.closing;
  }
}

/** A held command's channel: its first output line, and a release that sends EOF and waits for the end. */
function heldChannel(channel: ClientChannel): Promise<HeldCommand> {
  return new Promise((resolve) => {
    let output = '';
    let closed = false;
    const ended = new Promise<void>((done) => channel.once('close', () => done()));
    void ended.then(() => {
      closed = true;
    });
    const release = async () => {
      if (!closed) channel.end();
      await ended;
    };
    const answer = () => {
      const newline = output.indexOf('\n');
      if (newline >= 0) resolve({ firstLine: output.slice(0, newline), release });
      return newline >= 0;
    };
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      if (answer()) channel.off('data', onData);
    };
    channel.on('data', onData);
    // Whatever it writes on stderr is drained, or a full window would stall it.
    channel.stderr.on('data', () => {});
    void ended.then(() => {
      if (!answer()) resolve({ firstLine: output, release });
    });
  });
}
