import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './exec.js';

// Certificates for memcached with TLS (-Z), made with the openssl CLI: a CA, a
// server certificate for 127.0.0.1 and localhost, a client certificate, and a
// second server certificate from the same CA (another chain, which the tls gate
// must notice). Made once per folder; the keys are unencrypted, as memcached
// and memplay read them.

export interface LabCertificates {
  readonly dir: string;
  readonly ca: string;
  readonly caKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
  /** Another server certificate signed by the same CA: a different chain, equally trusted. */
  readonly otherServerCert: string;
  readonly otherServerKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A CA that signed none of these: a playbook trusting it must refuse the server. */
  readonly strangerCa: string;
}

export function labCertificatePaths(dir: string): LabCertificates {
  return {
    dir,
    ca: join(dir, 'ca.pem'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    otherServerCert: join(dir, 'server-2.pem'),
    otherServerKey: join(dir, 'server-2.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
    strangerCa: join(dir, 'stranger-ca.pem'),
  };
}

async function selfSigned(cert: string, key: string, subject: string): Promise<void> {
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '30',
    '-subj',
    subject,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
}

async function signed(
  paths: LabCertificates,
  cert: string,
  key: string,
  subject: string,
  extensions: string,
): Promise<void> {
  const request = `${cert}.csr`;
  const extensionFile = `${cert}.ext`;
  await writeFile(extensionFile, `${extensions}\n`);
  await run('openssl', [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    request,
    '-subj',
    subject,
  ]);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    request,
    '-CA',
    paths.ca,
    '-CAkey',
    paths.caKey,
    '-CAcreateserial',
    '-out',
    cert,
    '-days',
    '30',
    '-extfile',
    extensionFile,
  ]);
}

/** The lab's certificates in `dir`, made if they are not there. */
export async function labCertificates(dir: string): Promise<LabCertificates> {
  const paths = labCertificatePaths(dir);
  if (existsSync(paths.strangerCa)) return paths;
  await mkdir(dir, { recursive: true });
  await selfSigned(paths.ca, paths.caKey, '/CN=memplay lab CA');
  const server = 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth';
  await signed(paths, paths.serverCert, paths.serverKey, '/CN=memplay lab server', server);
  await signed(paths, paths.otherServerCert, paths.otherServerKey, '/CN=memplay lab server 2', server);
  await signed(
    paths,
    paths.clientCert,
    paths.clientKey,
    '/CN=memplay lab client',
    'extendedKeyUsage=clientAuth',
  );
  // Last: its presence says the folder is complete.
  await selfSigned(paths.strangerCa, join(dir, 'stranger-ca.key'), '/CN=not the lab CA');
  return paths;
}
