import { formatDiagnostic } from '../errors.js';
import { validatePlaybookFile } from '../playbook/index.js';
import type { ValidateEvent } from '../report/events.js';
import { ExitCode } from './exit-codes.js';
import { type OutputMode, printJsonEvent } from './output.js';

export interface ValidateOptions {
  readonly output: OutputMode;
  /** The JSON line carries it as `run_id`. */
  readonly runId: string;
}

export async function validateCommand(file: string, options: ValidateOptions): Promise<ExitCode> {
  const diagnostics = await validatePlaybookFile(file);
  const code = diagnostics.length === 0 ? ExitCode.ok : ExitCode.invalidPlaybook;
  if (options.output === 'json') {
    const event: ValidateEvent = {
      event: 'validate',
      file,
      valid: diagnostics.length === 0,
      diagnostics,
      exit_code: code,
    };
    printJsonEvent(event, options.runId);
    return code;
  }
  if (diagnostics.length === 0) {
    process.stdout.write(`${file}: valid\n`);
    return code;
  }
  for (const d of diagnostics) process.stderr.write(`${formatDiagnostic(d)}\n`);
  process.stderr.write(
    `${diagnostics.length} problem${diagnostics.length === 1 ? '' : 's'}; nothing was run: fix ${diagnostics.length === 1 ? 'it' : 'them'} and validate again\n`,
  );
  return code;
}
