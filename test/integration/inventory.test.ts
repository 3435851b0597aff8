import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runMemplay } from '../e2e/memplay-cli.js';
import { head } from '../support/playbook-helpers.js';
import { startContactCounter } from './contact-counter.js';

// hosts_from through the built CLI: where it dials, and that a bad inventory dials nothing.

const folders: string[] = [];
afterAll(() => Promise.all(folders.map((folder) => rm(folder, { recursive: true, force: true }))));

/** Writes `files` (name → text) into a fresh folder; returns the folder. */
async function folderWith(files: Record<string, string>): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'memplay-inventory-'));
  folders.push(folder);
  for (const [name, text] of Object.entries(files)) await writeFile(join(folder, name), text);
  return folder;
}

describe('the built CLI (npm run build first) with hosts_from', () => {
  // As in cli-bad-input.test.ts: every host is a listener that counts connections.
  const env = { SSH_AUTH_SOCK: '/nonexistent/memplay-test-agent.sock' };

  it('a bad port in the inventory exits 4 at its place and contacts no host; fixed, --limit on an inventory group dials exactly its host at the inventory’s address and port', async () => {
    const counter = await startContactCounter();
    try {
      const inventory = (cache2Port: string) =>
        `[east]\ncache1 ansible_host=127.0.0.1\n[west]\ncache2 ansible_host=127.0.0.2 ansible_port=${cache2Port}\n` +
        `[all:vars]\nansible_port=${counter.port}\n`;
      const playbook = `${head.replace(
        'path: /srv/memcached-1.6.38.tar.gz',
        'url: https://memcached.org/files/memcached-1.6.38.tar.gz',
      )}hosts_from: inventory.ini
defaults:
  ssh: { connect_timeout: 2, known_hosts: ./known_hosts, config_file: none }
`;
      const folder = await folderWith({
        'fleet.yml': playbook,
        'inventory.ini': inventory('65536'),
        known_hosts: '',
      });
      const fleet = join(folder, 'fleet.yml');
      const bad = await runMemplay(['facts', fleet, '--limit', 'east'], env);
      expect(bad.code, bad.stderr).toBe(4);
      const col = inventory('65536').split('\n')[3]?.indexOf('65536');
      expect(bad.stderr).toContain(
        `${join(folder, 'inventory.ini')}:4:${Number(col) + 1}: ansible_port: must be a port number from 1 to 65535 (got 65536)`,
      );
      expect(bad.stderr).not.toMatch(/\n\s+at /);
      expect(counter.contacts).toEqual([]);

      await writeFile(join(folder, 'inventory.ini'), inventory(String(counter.port)));
      const east = await runMemplay(['facts', fleet, '--limit', 'east', '--output', 'json'], env);
      // The counter is no sshd: the host is unreachable, after being dialled where the inventory says.
      expect(east.code, east.stderr).toBe(3);
      expect(east.events.map((e) => [e.event, (e as { host?: string }).host])).toEqual([
        ['unreachable', 'cache1'],
      ]);
      expect(counter.contacts).toEqual([`127.0.0.1:${counter.port}`]);
    } finally {
      await counter.close();
    }
  });
});
