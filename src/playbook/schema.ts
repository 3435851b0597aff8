import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { projectFile } from '../project-root.js';
import type { PlaybookDocument } from './document.generated.js';

/** schemas/playbook.schema.json, the single source of truth for the playbook format. */
export const playbookSchema: Readonly<Record<string, unknown>> = JSON.parse(
  readFileSync(projectFile('schemas/playbook.schema.json'), 'utf8'),
) as Record<string, unknown>;

// strictRequired is off for source's oneOf, whose branches name properties declared one level up.
// verbose: errors carry the offending data and the schema they failed, which the
// messages quote (allowed keys, bounds, enum values).
// allowUnionTypes: a task step is a name (string) or a command step (object), one schema for both.
const ajv = new Ajv2020({
  allErrors: true,
  verbose: true,
  strict: true,
  strictRequired: false,
  allowUnionTypes: true,
});
const validate = ajv.compile<PlaybookDocument>(playbookSchema);

/** Every schema violation in the document at once (empty when it conforms). */
export function schemaErrors(data: unknown): ErrorObject[] {
  return validate(data) ? [] : [...(validate.errors ?? [])];
}

/**
 * The document of a playbook that passed validation, typed by the schema it was
 * checked against (document.generated.ts); throws when it does not conform.
 */
export function playbookDocument(data: unknown): PlaybookDocument {
  if (!validate(data)) throw new Error('the playbook document was used before it was validated');
  return data;
}

/** Every schema violation of one host's settings, as a `hosts.<name>` entry would have them. */
export function hostSettingErrors(data: unknown): ErrorObject[] {
  // Compiled on first use: only a playbook with hosts_from needs it.
  const validateHost = ajv.getSchema(`${String(playbookSchema.$id)}#/$defs/host`);
  if (!validateHost) throw new Error('playbook schema has no $defs/host');
  return validateHost(data) ? [] : [...(validateHost.errors ?? [])];
}

/** Whether `value` conforms to the part of the schema at `pointer` (a JSON pointer into it). */
export function conformsAt(pointer: string, value: unknown): boolean {
  const check = ajv.getSchema(`${String(playbookSchema.$id)}#${pointer}`);
  if (!check) throw new Error(`playbook schema has no ${pointer}`);
  return check(value) === true;
}
