// The playbook's public API: read, check and resolve a playbook file, and pick hosts.
import { resolve } from 'node:path';
import { type Diagnostic, PlaybookError } from '../errors.js';
import { loadPlaybookSource } from './load.js';
import { type PlaybookDocument, resolvePlaybook } from './resolve.js';
import type { Playbook } from './types.js';
import { checkPlaybook, orderDiagnostics } from './validate.js';

export { selectHosts } from './resolve.js';
export { playbookSchema } from './schema.js';
export type { HostConfig, Playbook } from './types.js';

/** Every problem of a playbook file, in file order; empty when it is valid. */
export async function validatePlaybookFile(file: string): Promise<Diagnostic[]> {
  const loaded = await loadPlaybookSource(file);
  const checked = loaded.source ? checkPlaybook(loaded.source) : [];
  return orderDiagnostics([...loaded.diagnostics, ...checked]);
}

/** The resolved playbook; throws PlaybookError carrying every problem when the file is not valid. */
export async function loadPlaybook(file: string): Promise<Playbook> {
  const loaded = await loadPlaybookSource(file);
  const diagnostics = orderDiagnostics([
    ...loaded.diagnostics,
    ...(loaded.source ? checkPlaybook(loaded.source) : []),
  ]);
  if (!loaded.source || diagnostics.length > 0) throw new PlaybookError(diagnostics);
  return resolvePlaybook(loaded.source.data() as PlaybookDocument, resolve(file));
}
