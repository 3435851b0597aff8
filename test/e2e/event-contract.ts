import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import formats from 'ajv-formats';
import { projectFile } from '../../src/project-root.js';

// schemas/events.schema.json, compiled once: what unit and e2e tests hold memplay's
// JSON lines to. Strict, as the playbook schema is, so a mistake in the schema
// itself (an unknown keyword, a type that cannot hold) fails loudly.

export const eventsSchema = JSON.parse(readFileSync(projectFile('schemas/events.schema.json'), 'utf8')) as {
  readonly allOf: readonly {
    readonly if: { readonly properties: { readonly event: { readonly const: string } } };
  }[];
};

const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
// ajv-formats is CommonJS: its plugin is the module itself, typed as its `default`.
(formats as unknown as typeof formats.default)(ajv);
const validate = ajv.compile(eventsSchema);

/** The events the schema describes field by field (it lets others through with their envelope). */
export const describedEvents = eventsSchema.allOf.map((branch) => branch.if.properties.event.const);

/** What is wrong with one JSON event, as `path: message` lines; empty when it follows the contract. */
export function contractErrors(event: unknown): string[] {
  if (validate(event)) return [];
  return (validate.errors ?? []).map((e: ErrorObject) => `${e.instancePath || '/'}: ${e.message}`);
}

/**
 * Every line of a JSON output, parsed and checked: each follows the schema, is an
 * event the schema describes, and all carry one run_id. Returns the events.
 */
export function checkJsonLines(stdout: string): Record<string, unknown>[] {
  const lines = stdout.split('\n').filter((line) => line !== '');
  const events = lines.map((line, index) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`line ${index + 1} of the JSON output is not JSON: ${line}`);
    }
  });
  const problems = events.flatMap((event, index) => [
    ...contractErrors(event).map((error) => `line ${index + 1} (${String(event.event)}): ${error}`),
    ...(describedEvents.includes(String(event.event))
      ? []
      : [`line ${index + 1}: event ${String(event.event)} is not described in schemas/events.schema.json`]),
  ]);
  const runIds = new Set(events.map((event) => event.run_id));
  if (runIds.size > 1) problems.push(`one output, ${runIds.size} run_ids: ${[...runIds].join(', ')}`);
  if (problems.length > 0) throw new Error(`JSON output breaks the event contract:\n${problems.join('\n')}`);
  return events;
}
