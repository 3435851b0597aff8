import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { referenceEnd, referenceStart, renderReference } from '../../src/docs/schema-reference.js';
import { playbookSchema } from '../../src/playbook/index.js';

describe('README playbook reference', () => {
  it('is exactly what the JSON Schema renders to (run npm run docs after changing the schema)', async () => {
    const readme = await readFile('README.md', 'utf8');
    const section = readme.slice(
      readme.indexOf(referenceStart) + referenceStart.length,
      readme.indexOf(referenceEnd),
    );
    expect(section.trim()).toBe(renderReference(playbookSchema));
  });
  it('lists every contract key, nested ones included', () => {
    const reference = renderReference(playbookSchema);
    for (const key of [
      'target.source.sha256',
      'defaults.ssh.known_hosts',
      'hosts.<name>.memcached.service',
      'strategy.serial',
      'backup.dir',
      'verify.sample',
    ]) {
      expect(reference).toContain(`\`${key}\``);
    }
  });
});
