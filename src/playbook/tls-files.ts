import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Diagnostic } from '../errors.js';
import type { PlaybookSource } from './source.js';
import type { HostConfig, MemcachedTlsSettings } from './types.js';

// memcached.tls names files on the controller. One that is missing, is not PEM,
// or a key that does not belong to its certificate would otherwise surface per
// host halfway through a run (as a failed handshake); it is reported at the
// line that names it, before any host is contacted. `validate` does not look:
// the files may exist only where `apply` runs. The key's contents are never
// quoted, and neither is its path (the line that names it is enough).

type TlsKey = 'ca_file' | 'cert_file' | 'key_file';

export async function tlsFileProblems(
  source: PlaybookSource,
  hosts: readonly HostConfig[],
): Promise<Diagnostic[]> {
  const found = new Map<string, Diagnostic>();
  for (const host of hosts) {
    const tls = host.memcached.tls;
    if (!tls) continue;
    const own = ['hosts', host.name, 'memcached', 'tls'];
    const base = (key: TlsKey) => (source.nodeAt([...own, key]) ? own : ['defaults', 'memcached', 'tls']);
    for (const problem of await settingsProblems(tls)) {
      const path = [...base(problem.key), problem.key];
      found.set(
        `${path.join('.')}:${problem.text}`,
        source.diagnostic(path, `${path.join('.')}: ${problem.text} (memcached TLS of ${host.name})`),
      );
    }
  }
  return [...found.values()];
}

/** What is wrong with the files of one `memcached.tls`, each named by its key. */
export async function settingsProblems(
  tls: MemcachedTlsSettings,
): Promise<{ readonly key: TlsKey; readonly text: string }[]> {
  const problems: { key: TlsKey; text: string }[] = [];
  const ca = await readPem(tls.caFile, tls.caFile);
  if (typeof ca === 'string') problems.push({ key: 'ca_file', text: ca });
  else if (certificateOf(ca) === null)
    problems.push({ key: 'ca_file', text: `${tls.caFile} holds no PEM certificate` });
  if (tls.certFile === undefined || tls.keyFile === undefined) return problems;
  const certText = await readPem(tls.certFile, tls.certFile);
  const keyText = await readPem(tls.keyFile, 'the key file');
  const certificate = typeof certText === 'string' ? null : certificateOf(certText);
  if (typeof certText === 'string') problems.push({ key: 'cert_file', text: certText });
  else if (certificate === null)
    problems.push({ key: 'cert_file', text: `${tls.certFile} holds no PEM certificate` });
  let key: KeyObject | null = null;
  if (typeof keyText === 'string') problems.push({ key: 'key_file', text: keyText });
  else {
    try {
      key = createPrivateKey(keyText);
    } catch (error) {
      // PKCS#8 and the older PEM form each say so in their text.
      const encrypted =
        /BEGIN ENCRYPTED PRIVATE KEY|Proc-Type: 4,ENCRYPTED/.test(keyText.toString('latin1')) ||
        /passphrase/i.test((error as Error).message);
      problems.push({
        key: 'key_file',
        text: encrypted
          ? 'the key is encrypted; memplay needs an unencrypted PEM key (readable by you alone)'
          : 'the file holds no PEM private key',
      });
    }
  }
  if (certificate && key && !certificate.checkPrivateKey(key)) {
    problems.push({ key: 'key_file', text: `the key is not the key of cert_file ${tls.certFile}` });
  }
  return problems;
}

/** The file's bytes, or why they cannot be read (naming the file as `shown`). */
async function readPem(file: string, shown: string): Promise<Buffer | string> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return `cannot read ${shown} (no such file)`;
    if (code === 'EACCES' || code === 'EPERM') return `cannot read ${shown} (permission denied)`;
    if (code === 'EISDIR') return `cannot read ${shown} (it is a folder)`;
    return `cannot read ${shown} (${code ?? 'error'})`;
  }
}

function certificateOf(pem: Buffer): X509Certificate | null {
  try {
    return new X509Certificate(pem);
  } catch {
    return null;
  }
}
