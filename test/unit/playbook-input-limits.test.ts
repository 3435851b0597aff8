import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPlaybook, validatePlaybookFile } from '../../src/playbook/index.js';
import { parseYamlText } from '../../src/playbook/load.js';
import { MAX_PLAYBOOK_BYTES, readTextFile } from '../../src/playbook/read-text-file.js';
import { head } from '../support/playbook-helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memplay-input-limits-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fleet of `count` hosts, each reusing the anchors `&login` and `&cache` (Ansible users write them so). */
function anchoredFleet(count: number): string {
  const hosts = Array.from(
    { length: count },
    (_, i) =>
      `  cache${i}:\n    address: 10.${i >> 16}.${(i >> 8) & 255}.${i & 255}\n    ssh: *login\n    memcached: *cache`,
  );
  return `${head}defaults:\n  ssh: &login { user: deploy, port: 2222 }\n  memcached: &cache { port: 11211 }\nhosts:\n${hosts.join('\n')}\n`;
}

describe('what memplay reads as a playbook', () => {
  it('a device is refused by type before a byte is read; a file above the cap by size', async () => {
    await expect(readTextFile('/dev/zero')).rejects.toThrow(
      'this is a device, not a regular file; give the path of a .yml file (or - to read standard input)',
    );
    const big = join(dir, 'big.yml');
    await writeFile(big, '');
    await truncate(big, MAX_PLAYBOOK_BYTES + 1);
    await expect(readTextFile(big)).rejects.toThrow(/^it is 4\.0 MiB, more than the 4\.0 MiB memplay reads/);
    await truncate(big, MAX_PLAYBOOK_BYTES);
    expect((await readTextFile(big)).length).toBe(MAX_PLAYBOOK_BYTES);
  });

  it('- reads standard input, with the same cap', async () => {
    expect((await readTextFile('-', 100, Readable.from([Buffer.from('name: x\n')]))).toString()).toBe(
      'name: x\n',
    );
    await expect(readTextFile('-', 100, Readable.from([Buffer.alloc(60), Buffer.alloc(60)]))).rejects.toThrow(
      /^it is at least 0\.0 MiB, more than the 0\.0 MiB memplay reads/,
    );
  });

  it('a 10,000-host fleet reusing two anchors per host (20,000 aliases) loads, each host with the anchored settings', async () => {
    const file = join(dir, 'fleet-10000.yml');
    const text = anchoredFleet(10_000);
    await writeFile(file, text);
    // Under the cap with room to spare: the cap is not what limits a real fleet.
    expect(Buffer.byteLength(text)).toBeLessThan(MAX_PLAYBOOK_BYTES / 4);
    expect(await validatePlaybookFile(file)).toEqual([]);
    const playbook = await loadPlaybook(file);
    expect(playbook.hosts).toHaveLength(10_000);
    expect(playbook.hosts[9_999]).toMatchObject({
      name: 'cache9999',
      ssh: { user: 'deploy', port: 2222 },
      memcached: { port: 11211 },
    });
  }, 120_000);
});

describe('the data of a document', () => {
  it('is what the yaml library makes of it, for every playbook in the repository, aliases and odd keys included', async () => {
    const folders = ['examples', 'playbooks', 'test/fixtures/good-playbooks', 'test/fixtures/bad-playbooks'];
    let compared = 0;
    for (const folder of folders) {
      for (const name of (await readdir(folder)).filter((file) => file.endsWith('.yml'))) {
        const { source, readable } = parseYamlText(
          name,
          await readFile(join(folder, name), 'utf8'),
          'playbook',
        );
        if (!readable) continue;
        expect(source.data(), `${folder}/${name}`).toEqual(source.document.toJS({ maxAliasCount: 100_000 }));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(50);
    const odd =
      'a: &x { p: [1, 2] }\nb: *x\n~: null key\n__proto__: { z: 1 }\nl: [k: 1, two]\nbig: 123456789012345678901\n';
    const { source } = parseYamlText('odd.yml', odd, 'playbook');
    const data = source.data() as Record<string, unknown>;
    expect(data).toEqual(source.document.toJS());
    // An alias shares its anchor's value, as in the library.
    expect(data.b).toBe(data.a);
    expect(Object.getPrototypeOf(data)).toBe(Object.prototype);
  });
});
