import { readdirSync, readFileSync } from 'node:fs';
import type { Diagnostic } from '../../src/errors.js';

// Each file in bad-playbooks/ holds one mistake, named after it, and states the exact
// diagnostics it must produce in leading `# expect: LINE:COL: message` comments.
export const badPlaybookFolder = 'test/fixtures/bad-playbooks';

export const badPlaybookNames: readonly string[] = readdirSync(badPlaybookFolder)
  .filter((name) => name.endsWith('.yml'))
  .sort();

/** The diagnostics a fixture's `# expect:` lines state, as reported for `file`. */
export function expectedDiagnostics(file: string, text = readFileSync(file, 'utf8')): Diagnostic[] {
  const expectations = text.split('\n').filter((line) => line.startsWith('# expect: '));
  return expectations.map((line) => {
    const match = /^# expect: (\d+):(\d+): (.+)$/.exec(line);
    if (!match) throw new Error(`${file}: malformed expectation: ${line}`);
    return { file, line: Number(match[1]), col: Number(match[2]), message: match[3] as string };
  });
}
