import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PlaybookError } from '../../src/errors.js';
import { loadPlaybook, validatePlaybookFile } from '../../src/playbook/index.js';

// Each file in bad-playbooks/ holds one mistake, named after it, and states the exact
// diagnostics it must produce in leading `# expect: LINE:COL: message` comments.
const folder = 'test/fixtures/bad-playbooks';
const fixtures = readdirSync(folder)
  .filter((name) => name.endsWith('.yml'))
  .sort();

function expectedDiagnostics(file: string) {
  const expectations = readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('# expect: '));
  return expectations.map((line) => {
    const match = /^# expect: (\d+):(\d+): (.+)$/.exec(line);
    if (!match) throw new Error(`${file}: malformed expectation: ${line}`);
    return { file, line: Number(match[1]), col: Number(match[2]), message: match[3] };
  });
}

describe('bad playbooks', () => {
  it('the corpus covers at least 18 mistakes, each with an expectation', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(18);
    for (const name of fixtures) expect(expectedDiagnostics(join(folder, name)), name).not.toEqual([]);
  });

  it.each(fixtures)('%s is reported exactly as its "# expect:" lines say', async (name) => {
    const file = join(folder, name);
    const expected = expectedDiagnostics(file);
    expect(await validatePlaybookFile(file)).toEqual(expected);
    const refused = await loadPlaybook(file).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(PlaybookError);
    expect((refused as PlaybookError).diagnostics).toEqual(expected);
  });

  it('three independent mistakes in one file are all reported in one run', async () => {
    const diagnostics = await validatePlaybookFile(join(folder, 'three-independent-mistakes.yml'));
    expect(diagnostics.map((d) => d.message.split(':')[0])).toEqual([
      'target.version',
      'strategy.serial',
      'hosts.host1.ssh',
    ]);
    expect(new Set(diagnostics.map((d) => d.line)).size).toBe(3);
  });
});
