// What the ssh handshake offers. ssh2's own defaults still offer `ssh-rsa` (SHA-1
// signatures) host keys and `hmac-sha1`; memplay offers OpenSSH 9's client defaults
// instead (myproposal.h), less what ssh2 does not implement (sntrup761/mlkem768 key
// exchange, umac MACs) and less the SHA-1 MACs OpenSSH still lists last: every sshd
// since OpenSSH 6.2 (2013) speaks the SHA-2 ones. An old sshd that needs any of the
// legacy algorithms gets them only when the playbook names them, with a warning.

/** The four lists ssh2 negotiates, by its `algorithms` keys. */
export interface AlgorithmLists {
  readonly kex: readonly string[];
  readonly serverHostKey: readonly string[];
  readonly cipher: readonly string[];
  readonly hmac: readonly string[];
}

export type AlgorithmKind = keyof AlgorithmLists;

export const defaultAlgorithms: AlgorithmLists = {
  kex: [
    'curve25519-sha256',
    'curve25519-sha256@libssh.org',
    'ecdh-sha2-nistp256',
    'ecdh-sha2-nistp384',
    'ecdh-sha2-nistp521',
    'diffie-hellman-group-exchange-sha256',
    'diffie-hellman-group16-sha512',
    'diffie-hellman-group18-sha512',
    'diffie-hellman-group14-sha256',
  ],
  serverHostKey: [
    'ssh-ed25519',
    'ecdsa-sha2-nistp256',
    'ecdsa-sha2-nistp384',
    'ecdsa-sha2-nistp521',
    'rsa-sha2-512',
    'rsa-sha2-256',
  ],
  cipher: [
    'chacha20-poly1305@openssh.com',
    'aes128-ctr',
    'aes192-ctr',
    'aes256-ctr',
    'aes128-gcm@openssh.com',
    'aes256-gcm@openssh.com',
  ],
  hmac: ['hmac-sha2-256-etm@openssh.com', 'hmac-sha2-512-etm@openssh.com', 'hmac-sha2-256', 'hmac-sha2-512'],
};

/**
 * The weak algorithms a playbook may name in `ssh.legacy_algorithms` (the schema's
 * enum is this list), each with the list it joins, at the end: the server's
 * preference order still picks a strong one whenever it has one.
 */
export const legacyAlgorithms: Readonly<Record<string, AlgorithmKind>> = {
  'ssh-rsa': 'serverHostKey',
  'ssh-dss': 'serverHostKey',
  'diffie-hellman-group14-sha1': 'kex',
  'diffie-hellman-group-exchange-sha1': 'kex',
  'diffie-hellman-group1-sha1': 'kex',
  'aes128-cbc': 'cipher',
  'aes192-cbc': 'cipher',
  'aes256-cbc': 'cipher',
  '3des-cbc': 'cipher',
  'hmac-sha1-etm@openssh.com': 'hmac',
  'hmac-sha1': 'hmac',
  'hmac-sha1-96': 'hmac',
  'hmac-md5': 'hmac',
};

/** The lists to offer: the defaults, with the named legacy algorithms appended to theirs. */
export function offeredAlgorithms(legacy: readonly string[] = []): AlgorithmLists {
  const extra = (kind: AlgorithmKind) => legacy.filter((name) => legacyAlgorithms[name] === kind);
  return {
    kex: [...defaultAlgorithms.kex, ...extra('kex')],
    serverHostKey: [...defaultAlgorithms.serverHostKey, ...extra('serverHostKey')],
    cipher: [...defaultAlgorithms.cipher, ...extra('cipher')],
    hmac: [...defaultAlgorithms.hmac, ...extra('hmac')],
  };
}

/** What ssh2 reports on `handshake`: the algorithms both sides settled on. */
export interface Negotiated {
  readonly kex: string;
  readonly serverHostKey: string;
  readonly cs: { readonly cipher: string; readonly mac: string };
  readonly sc: { readonly cipher: string; readonly mac: string };
}

/** The legacy algorithms the handshake actually settled on (a MAC is unused under an AEAD cipher). */
export function legacyInUse(negotiated: Negotiated): string[] {
  const used = [
    negotiated.kex,
    negotiated.serverHostKey,
    negotiated.cs.cipher,
    negotiated.sc.cipher,
    negotiated.cs.mac,
    negotiated.sc.mac,
  ];
  return [...new Set(used.filter((name) => name in legacyAlgorithms))];
}
