import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { generatedTypesFile, renderDocumentTypes } from '../../src/docs/schema-types.js';
import { playbookSchema } from '../../src/playbook/schema.js';

describe('the playbook document types, generated from the schema', () => {
  it(`${generatedTypesFile} is exactly what schemas/playbook.schema.json renders to (run npm run schema:types)`, async () => {
    expect(await readFile(generatedTypesFile, 'utf8')).toBe(renderDocumentTypes(playbookSchema));
  });

  it('a key added to the schema shows up in the types, with its default', () => {
    const schema = structuredClone(playbookSchema) as {
      properties: { verify: { properties: Record<string, unknown> } };
    };
    schema.properties.verify.properties.max_errors = { title: 'Errors', type: 'integer', default: 5 };
    const rendered = renderDocumentTypes(schema);
    expect(rendered).toContain('    /** Errors */\n    readonly max_errors?: number;\n');
    expect(rendered).toContain('    max_errors: 5,\n');
  });

  it('a keyword the generator does not understand stops it instead of typing the key loosely', () => {
    const schema = structuredClone(playbookSchema) as { properties: Record<string, unknown> };
    schema.properties.labels = { type: 'object', patternProperties: { '^x-': { type: 'string' } } };
    expect(() => renderDocumentTypes(schema)).toThrow('the keyword "patternProperties" is not understood');
  });
});
