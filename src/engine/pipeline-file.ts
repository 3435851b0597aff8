// A built-in sequence file (playbooks/*.yml), checked the way a playbook is: its
// shape by schemas/pipeline.schema.json, then its tasks' order by the declared
// dependencies (src/playbook/task-order.ts). A file that fails is refused at
// load, with `file:line:col` of the task at fault, before any host is contacted.
import { readFileSync } from 'node:fs';
import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import { LineCounter, parseDocument } from 'yaml';
import { type Diagnostic, formatDiagnostic } from '../errors.js';
import { displayPath, type Path, PlaybookSource } from '../playbook/source.js';
import { type TaskName, taskNames, taskOrderProblems } from '../playbook/task-order.js';
import { closestName } from '../playbook/words.js';
import { projectFile } from '../project-root.js';

/** schemas/pipeline.schema.json: the shape of a built-in sequence. */
export const pipelineSchema: Readonly<Record<string, unknown>> = JSON.parse(
  readFileSync(projectFile('schemas/pipeline.schema.json'), 'utf8'),
) as Record<string, unknown>;

const validate = new Ajv2020({ allErrors: true, strict: true }).compile(pipelineSchema);

/** A sequence file as the schema accepts it. */
export interface PipelineDefinition {
  readonly name: string;
  readonly phases: readonly {
    readonly name: string;
    readonly batches: 'fleet' | 'serial';
    readonly tasks: readonly TaskName[];
  }[];
}

export class PipelineDefinitionError extends Error {
  override name = 'PipelineDefinitionError';
  constructor(readonly diagnostics: readonly Diagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'));
  }
}

/** The sequence in `text`; throws PipelineDefinitionError naming every problem. `file` is only shown. */
export function parsePipelineDefinition(text: string, file: string): PipelineDefinition {
  const lines = new LineCounter();
  const source = new PlaybookSource(file, parseDocument(text, { lineCounter: lines }), lines);
  if (source.document.errors.length > 0) {
    throw new PipelineDefinitionError(
      source.document.errors.map((error) =>
        source.diagnosticAtOffset(error.pos[0], `not valid YAML: ${error.message.split('\n')[0]}`),
      ),
    );
  }
  const data = source.data();
  if (!validate(data)) {
    throw new PipelineDefinitionError(
      (validate.errors ?? []).map((error) => schemaDiagnostic(source, error)),
    );
  }
  const definition = data as PipelineDefinition;
  const steps = definition.phases.flatMap((phase, phaseIndex) =>
    phase.tasks.map((name, taskIndex): { name: TaskName; path: Path } => ({
      name,
      path: ['phases', phaseIndex, 'tasks', taskIndex],
    })),
  );
  const misplaced = taskOrderProblems(steps.map((step) => step.name));
  if (misplaced.length > 0) {
    throw new PipelineDefinitionError(
      misplaced.map(({ index, message }) => {
        const path = steps[index]?.path ?? [];
        return source.diagnostic(path, `${displayPath(path)}: ${message}`);
      }),
    );
  }
  return definition;
}

function schemaDiagnostic(source: PlaybookSource, error: ErrorObject): Diagnostic {
  const path: Path = error.instancePath
    .split('/')
    .slice(1)
    .map((segment) =>
      /^\d+$/.test(segment) ? Number(segment) : segment.replace(/~1/g, '/').replace(/~0/g, '~'),
    );
  const where = path.length > 0 ? `${displayPath(path)}: ` : '';
  const at = (message: string, anchor: 'key' | 'value' = 'value') =>
    source.diagnostic(path, `${where}${message}`, anchor);
  if (error.keyword === 'required') {
    return at(`needs "${String(error.params.missingProperty)}"`, 'key');
  }
  if (error.keyword === 'additionalProperties') {
    const key = String(error.params.additionalProperty);
    return source.diagnostic([...path, key], `${where}unknown key "${key}"`, 'key');
  }
  if (error.keyword === 'enum' && error.schemaPath.startsWith('#/$defs/taskName/')) {
    const name = String(valueAt(source.data(), path));
    const suggestion = closestName(name, [...taskNames]);
    return at(
      `unknown task "${name}"${suggestion ? ` — did you mean "${suggestion}"?` : ''}; the built-in tasks are ${taskNames.join(', ')}`,
    );
  }
  if (error.keyword === 'enum') {
    const allowed = (error.params.allowedValues as unknown[]).map(String).join(' or ');
    return at(`must be ${allowed}`);
  }
  return at(error.message ?? error.keyword);
}

function valueAt(data: unknown, path: Path): unknown {
  let value = data;
  for (const segment of path) {
    value =
      typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[segment] : undefined;
  }
  return value;
}
