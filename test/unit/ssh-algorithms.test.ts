// Issue 17 item 9: ssh2's defaults offered `ssh-rsa` (SHA-1) host keys and hmac-sha1.
// memplay offers OpenSSH 9's defaults, and the weak ones only when the playbook names them.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { playbookSchema } from '../../src/playbook/schema.js';
import { preferredHostKeyAlgorithms } from '../../src/transport/host-key-policy.js';
import {
  defaultAlgorithms,
  legacyAlgorithms,
  legacyInUse,
  offeredAlgorithms,
} from '../../src/transport/ssh-algorithms.js';

const ssh2Constants = createRequire(import.meta.url)('ssh2/lib/protocol/constants.js') as Record<
  string,
  string[]
>;
const supported = {
  kex: ssh2Constants.SUPPORTED_KEX,
  serverHostKey: ssh2Constants.SUPPORTED_SERVER_HOST_KEY,
  cipher: ssh2Constants.SUPPORTED_CIPHER,
  hmac: ssh2Constants.SUPPORTED_MAC,
};
const weak = Object.keys(legacyAlgorithms);

describe('the algorithms an ssh connection offers', () => {
  it('by default: no SHA-1 host key signatures, key exchange or MAC, no CBC cipher', () => {
    const offered = offeredAlgorithms();
    for (const list of Object.values(offered)) for (const name of list) expect(weak).not.toContain(name);
    expect(offered.serverHostKey).not.toContain('ssh-rsa');
    expect(offered.hmac).not.toContain('hmac-sha1');
    expect(offered.serverHostKey).toEqual(
      expect.arrayContaining(['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256']),
    );
  });

  it('every name, default or legacy, is one ssh2 implements (it refuses to connect otherwise)', () => {
    for (const [kind, names] of Object.entries(defaultAlgorithms)) {
      for (const name of names) expect(supported[kind as keyof typeof supported], name).toContain(name);
    }
    for (const [name, kind] of Object.entries(legacyAlgorithms))
      expect(supported[kind], name).toContain(name);
  });

  it('named legacy algorithms join the end of their own list, after every default', () => {
    const offered = offeredAlgorithms(['ssh-rsa', 'hmac-sha1', 'diffie-hellman-group14-sha1']);
    expect(offered.serverHostKey).toEqual([...defaultAlgorithms.serverHostKey, 'ssh-rsa']);
    expect(offered.hmac).toEqual([...defaultAlgorithms.hmac, 'hmac-sha1']);
    expect(offered.kex).toEqual([...defaultAlgorithms.kex, 'diffie-hellman-group14-sha1']);
    expect(offered.cipher).toEqual(defaultAlgorithms.cipher);
  });

  it('a host known by its RSA key is asked for SHA-2 signatures first, and for ssh-rsa only when allowed', () => {
    const strict = preferredHostKeyAlgorithms(['ssh-rsa'], offeredAlgorithms().serverHostKey);
    expect(strict.slice(0, 2)).toEqual(['rsa-sha2-512', 'rsa-sha2-256']);
    expect(strict).not.toContain('ssh-rsa');
    const allowed = preferredHostKeyAlgorithms(['ssh-rsa'], offeredAlgorithms(['ssh-rsa']).serverHostKey);
    expect(allowed.slice(0, 3)).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
  });

  it('the warning names the legacy algorithms the key exchange settled on', () => {
    const negotiated = {
      kex: 'curve25519-sha256',
      serverHostKey: 'ssh-rsa',
      cs: { cipher: 'aes128-ctr', mac: 'hmac-sha1' },
      sc: { cipher: 'aes128-ctr', mac: 'hmac-sha1' },
    };
    expect(legacyInUse(negotiated)).toEqual(['ssh-rsa', 'hmac-sha1']);
  });

  it("the playbook's ssh.legacy_algorithms allows exactly the legacy list", () => {
    const schema = playbookSchema as {
      $defs: { ssh: { properties: Record<string, { items: { enum: string[] } }> } };
    };
    expect(schema.$defs.ssh.properties.legacy_algorithms?.items.enum).toEqual(weak);
  });
});
