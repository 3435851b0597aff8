import { formatDiagnostic } from '../errors.js';
import { validatePlaybookFile } from '../playbook/index.js';
import { ExitCode } from './exit-codes.js';

export async function validateCommand(file: string): Promise<ExitCode> {
  const diagnostics = await validatePlaybookFile(file);
  if (diagnostics.length === 0) {
    process.stdout.write(`${file}: valid\n`);
    return ExitCode.ok;
  }
  for (const d of diagnostics) process.stderr.write(`${formatDiagnostic(d)}\n`);
  process.stderr.write(
    `${diagnostics.length} problem${diagnostics.length === 1 ? '' : 's'}; nothing was run: fix ${diagnostics.length === 1 ? 'it' : 'them'} and validate again\n`,
  );
  return ExitCode.invalidPlaybook;
}
