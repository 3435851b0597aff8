import { playbookSchema } from '../playbook/index.js';
import { ExitCode } from './exit-codes.js';

export function schemaCommand(): ExitCode {
  process.stdout.write(`${JSON.stringify(playbookSchema, null, 2)}\n`);
  return ExitCode.ok;
}
