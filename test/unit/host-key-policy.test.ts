// Issue 17 item 5: every known_hosts file OpenSSH reads counts. A key pinned or
// @revoked in a second user file or a global one used to look unknown, and
// --accept-new-host-keys then added it, accepting a changed key.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { HostUnreachable } from '../../src/errors.js';
import { resolvePlaybook } from '../../src/playbook/resolve.js';
import { acceptsAsNew, hostKeyRefusal, knownHostsFor } from '../../src/transport/host-key-policy.js';
import { loadSshConfig } from '../../src/transport/ssh-config.js';
import type { SshOptions } from '../../src/transport/ssh-options.js';

const fixtures = join(import.meta.dirname, '../fixtures/known_hosts');
const scratch = mkdtempSync(join(tmpdir(), 'memplay-host-key-policy-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function keyOf(name: string): { line: string; blob: Buffer } {
  const [type = '', base64 = ''] = readFileSync(join(fixtures, name), 'utf8').trim().split(/\s+/);
  return { line: `${type} ${base64}`, blob: Buffer.from(base64, 'base64') };
}
const alpha = keyOf('alpha.ed25519.pub');
const beta = keyOf('beta.ed25519.pub');

let count = 0;
function file(text: string | undefined): string {
  count += 1;
  const path = join(scratch, `known_hosts-${count}`);
  if (text !== undefined) writeFileSync(path, text);
  return path;
}

function options(first: string, others: string[], accept = true): SshOptions {
  return {
    hostName: 'cache1',
    address: '10.0.0.5',
    port: 22,
    user: 'ops',
    knownHostsFile: first,
    otherKnownHostsFiles: others,
    connectTimeoutMs: 1000,
    acceptNewHostKeys: accept,
  };
}

async function verdict(opts: SshOptions, key: Buffer) {
  const known = await knownHostsFor(opts);
  const refusal = hostKeyRefusal(opts, known, key) as HostUnreachable | undefined;
  return { refusal, acceptsAsNew: acceptsAsNew(opts, known) };
}

describe('host keys are checked against every known_hosts file, user then global', () => {
  it('a key pinned only in a global file is trusted, and a different key there is a changed key that --accept-new-host-keys never adds', async () => {
    const user = file(undefined);
    const global = file(`10.0.0.5 ${alpha.line}\n`);
    expect((await verdict(options(user, [global]), alpha.blob)).refusal).toBeUndefined();
    const changed = await verdict(options(user, [global]), beta.blob);
    expect(changed.refusal?.reason).toBe('host-key-changed');
    expect(changed.refusal?.message).toContain(`${global}:1 expects`);
    expect(changed.refusal?.message).toContain(`ssh-keygen -R 10.0.0.5 -f ${global}`);
    expect(changed.acceptsAsNew).toBe(false);
  });

  it('a key pinned in the second user file (known_hosts2) makes the host known', async () => {
    const first = file('');
    const second = file(`10.0.0.5 ${alpha.line}\n`);
    const changed = await verdict(options(first, [second]), beta.blob);
    expect(changed.refusal?.reason).toBe('host-key-changed');
    expect(changed.acceptsAsNew).toBe(false);
  });

  it('a key @revoked in a global file is refused even when the user file trusts it, naming the file and line', async () => {
    const user = file(`10.0.0.5 ${alpha.line}\n`);
    const global = file(`# fleet-wide revocations\n@revoked * ${alpha.line}\n`);
    const { refusal } = await verdict(options(user, [global]), alpha.blob);
    expect(refusal?.reason).toBe('host-key-changed');
    expect(refusal?.message).toContain(`is marked @revoked at ${global}:2`);
    expect(refusal?.message).not.toContain('switched key type');
  });

  it('a wildcard @revoked of another key does not make the host known: an unknown key is new, honestly so', async () => {
    const user = file(`@revoked * ${beta.line}\n`);
    const { refusal, acceptsAsNew } = await verdict(options(user, [], false), alpha.blob);
    expect(refusal?.reason).toBe('host-key-unknown');
    expect(refusal?.message).not.toContain('switched key type');
    expect(refusal?.message).toContain('run again with --accept-new-host-keys');
    expect(acceptsAsNew).toBe(false);
    expect((await verdict(options(user, []), alpha.blob)).acceptsAsNew).toBe(true);
  });

  it('an unknown host names every file searched, says which are missing, and suggests the first to add to', async () => {
    const user = file(undefined);
    const global = file('');
    const { refusal, acceptsAsNew } = await verdict(options(user, [global]), alpha.blob);
    expect(refusal?.message).toContain(`is not in any of ${user} (which does not exist) or ${global}`);
    expect(refusal?.message).toContain(`>> ${user}`);
    expect(acceptsAsNew).toBe(true);
  });
});

describe('which known_hosts files a host resolves to', () => {
  const environment = { homeDir: '/home/tester', userName: 'tester' };
  const document = (text: string) => parse(text) as Parameters<typeof resolvePlaybook>[0];
  const base =
    'name: k\ntarget: { version: "1.6.38", source: { url: "https://x/y.tar.gz", sha256: "' +
    '0'.repeat(64) +
    '" } }\n';

  it('every file of UserKnownHostsFile (it takes several), then GlobalKnownHostsFile; the first user file is written to', async () => {
    const configPath = join(scratch, 'config');
    writeFileSync(
      configPath,
      'Host cache-*\n  UserKnownHostsFile ~/.ssh/kh_a ~/.ssh/kh_b\n  GlobalKnownHostsFile /etc/fleet_known_hosts\n',
    );
    const config = await loadSshConfig(configPath, environment.homeDir);
    const playbook = resolvePlaybook(
      document(`${base}hosts:\n  a:\n    address: cache-1\n    ssh: { config_file: ${configPath} }\n`),
      '/work/p.yml',
      { ...environment, sshConfigs: new Map([[configPath, config]]) },
    );
    expect(playbook.hosts[0]?.ssh.knownHosts).toBe('/home/tester/.ssh/kh_a');
    expect(playbook.hosts[0]?.ssh.otherKnownHosts).toEqual([
      '/home/tester/.ssh/kh_b',
      '/etc/fleet_known_hosts',
    ]);
  });

  it('without a config: ~/.ssh/known_hosts, ~/.ssh/known_hosts2 and the two global files, as ssh reads them', () => {
    const playbook = resolvePlaybook(
      document(`${base}hosts:\n  a:\n    address: cache-1\n    ssh: { config_file: none }\n`),
      '/work/p.yml',
      environment,
    );
    expect(playbook.hosts[0]?.ssh.knownHosts).toBe('/home/tester/.ssh/known_hosts');
    expect(playbook.hosts[0]?.ssh.otherKnownHosts).toEqual([
      '/home/tester/.ssh/known_hosts2',
      '/etc/ssh/ssh_known_hosts',
      '/etc/ssh/ssh_known_hosts2',
    ]);
  });
});

describe('what a connection keeps of known_hosts', () => {
  it("only this host's lines, revoked ones included, from a file that lists a whole fleet", async () => {
    const fleet = Array.from({ length: 300 }, (_, i) => `10.0.1.${i % 250},cache-${i} ${beta.line}`);
    const path = file(
      [
        ...fleet.slice(0, 100),
        `10.0.0.5 ${alpha.line}`,
        ...fleet.slice(100),
        `@revoked 10.0.0.5 ${beta.line}`,
      ]
        .join('\n')
        .concat('\n'),
    );
    const known = await knownHostsFor(options(path, [], false));
    expect(known.entries.map((entry) => [entry.line, entry.marker ?? 'trusted'])).toEqual([
      [101, 'trusted'],
      [302, 'revoked'],
    ]);
    expect(known.files).toEqual([{ path, missing: false }]);
    // Each kept key owns its bytes: none shares the 8 kB pool slab base64 decoding uses.
    for (const entry of known.entries) expect(entry.keyBlob.buffer.byteLength).toBe(entry.keyBlob.length);
    // The narrowed lines decide as the whole file did.
    expect(hostKeyRefusal(options(path, [], false), known, alpha.blob)).toBeUndefined();
    expect(hostKeyRefusal(options(path, [], false), known, beta.blob)?.message).toContain(
      `is marked @revoked at ${path}:302`,
    );
  });
});
