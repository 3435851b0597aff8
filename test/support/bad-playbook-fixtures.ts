import { readdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Diagnostic } from '../../src/errors.js';

// Each file in bad-playbooks/ holds one mistake, named after it, and states the exact
// diagnostics it must produce in leading `# expect: LINE:COL: message` comments.
export const badPlaybookFolder = 'test/fixtures/bad-playbooks';

export const badPlaybookNames: readonly string[] = readdirSync(badPlaybookFolder)
  .filter((name) => name.endsWith('.yml'))
  .sort();

/**
 * The diagnostics a fixture's `# expect:` lines state, as reported for `file`. `{dir}`
 * stands for the fixture's folder, absolute: a message that names a file beside it (an
 * ssh config under ssh-configs/) names it that way wherever the fixture is copied.
 */
export function expectedDiagnostics(file: string, text = readFileSync(file, 'utf8')): Diagnostic[] {
  const expectations = text.split('\n').filter((line) => line.startsWith('# expect: '));
  return expectations.map((line) => {
    const match = /^# expect: (\d+):(\d+): (.+)$/.exec(line);
    if (!match) throw new Error(`${file}: malformed expectation: ${line}`);
    const message = (match[3] as string).replaceAll('{dir}', resolve(dirname(file)));
    return { file, line: Number(match[1]), col: Number(match[2]), message };
  });
}

/** The exit code a fixture's `# exit:` line states; 4 (bad input), the code of every bad playbook, without one. */
export function expectedExit(text: string): number {
  const match = /^# exit: (\d+)$/m.exec(text);
  return match ? Number(match[1]) : 4;
}

/** Files beside the fixtures that some of them name (ssh configs), copied with them. */
export const badPlaybookSupportFolders: readonly string[] = ['ssh-configs'];
