import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  hostSettingsHeading,
  referenceEnd,
  referenceStart,
  renderReference,
} from '../../src/docs/schema-reference.js';
import { playbookSchema } from '../../src/playbook/index.js';

const keyColumn = (table: string) =>
  table
    .split('\n')
    .map((row) => /^\| `([^`]+)`/.exec(row)?.[1])
    .filter((key): key is string => key !== undefined);

describe('docs/playbook-reference.md', () => {
  it('is exactly what the JSON Schema renders to (run npm run docs after changing the schema)', async () => {
    const page = await readFile('docs/playbook-reference.md', 'utf8');
    expect(page).toContain(referenceStart);
    const section = page.slice(
      page.indexOf(referenceStart) + referenceStart.length,
      page.indexOf(referenceEnd),
    );
    expect(section.trim()).toBe(renderReference(playbookSchema));
  });
  it('lists every contract key, nested ones included', () => {
    const reference = renderReference(playbookSchema);
    const [main = '', hostSettings = ''] = reference.split(hostSettingsHeading);
    for (const key of [
      'target.source.sha256',
      'strategy.serial',
      'backup.dir',
      'verify.sample',
      'hosts.<name>.address',
    ]) {
      expect(keyColumn(main)).toContain(key);
    }
    for (const key of [
      'ssh.known_hosts',
      'memcached.service',
      'memcached.auth.user_env',
      'become',
      'connection',
    ]) {
      expect(keyColumn(hostSettings)).toContain(key);
    }
  });
  it('lists the host settings once, valid under both defaults and hosts.<name>, not twice', () => {
    const reference = renderReference(playbookSchema);
    const keys = keyColumn(reference);
    expect(
      keys.filter((key) => /^(defaults|hosts\.<name>)\.(ssh|memcached|become|connection)\b/.test(key)),
    ).toEqual([]);
    expect(keys.filter((key) => key === 'ssh.port')).toHaveLength(1);
    expect(reference).toContain('Valid under `defaults` (every host inherits them) and under `hosts.<name>`');
  });
});
