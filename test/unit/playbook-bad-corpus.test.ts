import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PlaybookError } from '../../src/errors.js';
import { loadPlaybook, playbookSchema, validatePlaybookFile } from '../../src/playbook/index.js';
import { describesPattern } from '../../src/playbook/schema-messages.js';
import {
  expectedDiagnostics,
  badPlaybookNames as fixtures,
  badPlaybookFolder as folder,
} from '../support/bad-playbook-fixtures.js';

describe('bad playbooks', () => {
  it('the corpus covers at least 18 mistakes, each with an expectation', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(18);
    for (const name of fixtures) expect(expectedDiagnostics(join(folder, name)), name).not.toEqual([]);
  });

  it.each(fixtures)('%s is reported exactly as its "# expect:" lines say', async (name) => {
    const file = join(folder, name);
    const expected = expectedDiagnostics(file);
    expect(await validatePlaybookFile(file)).toEqual(expected);
    const refused = await loadPlaybook(file).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(PlaybookError);
    expect((refused as PlaybookError).diagnostics).toEqual(expected);
  });

  it('three independent mistakes in one file are all reported in one run', async () => {
    const diagnostics = await validatePlaybookFile(join(folder, 'three-independent-mistakes.yml'));
    expect(diagnostics.map((d) => d.message.split(':')[0])).toEqual([
      'target.version',
      'strategy.serial',
      'hosts.host1.ssh',
    ]);
    expect(new Set(diagnostics.map((d) => d.line)).size).toBe(3);
  });
});

describe('schema patterns', () => {
  it('every pattern in the playbook schema is explained in words, never shown as a regular expression', () => {
    const unexplained: string[] = [];
    const walk = (node: unknown, pointer: string, inOneOf: boolean) => {
      if (typeof node !== 'object' || node === null) return;
      const schema = node as Record<string, unknown>;
      // A oneOf's branches are worded by the oneOf's own message.
      if (typeof schema.pattern === 'string' && !inOneOf && !describesPattern(schema))
        unexplained.push(pointer);
      for (const [key, child] of Object.entries(schema))
        walk(child, `${pointer}/${key}`, inOneOf || key === 'oneOf');
    };
    walk(playbookSchema, '', false);
    expect(unexplained).toEqual([]);
  });
});
