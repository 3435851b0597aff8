import { readFileSync } from 'node:fs';
import { join } from 'node:path';

// The host keys under test/fixtures/known_hosts, as the known_hosts tests of both tiers read them.

export const knownHostsFixtures = join(import.meta.dirname, '../fixtures/known_hosts');

export interface PublicKey {
  readonly file: string;
  /** `type base64`, as it appears in known_hosts. */
  readonly line: string;
  readonly type: string;
  readonly blob: Buffer;
}

export function publicKey(name: string): PublicKey {
  const file = join(knownHostsFixtures, name);
  const [type = '', base64 = ''] = readFileSync(file, 'utf8').trim().split(/\s+/);
  return { file, line: `${type} ${base64}`, type, blob: Buffer.from(base64, 'base64') };
}

export const alpha = publicKey('alpha.ed25519.pub');
export const beta = publicKey('beta.ed25519.pub');
export const gamma = publicKey('gamma.rsa.pub');
export const delta = publicKey('delta.ecdsa.pub');
