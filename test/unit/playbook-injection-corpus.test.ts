import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validatePlaybookFile } from '../../src/playbook/index.js';
import { parsePlaybookText } from '../../src/playbook/load.js';
import { type PlaybookDocument, resolvePlaybook } from '../../src/playbook/resolve.js';
import { cases, hostile, playbookWith } from '../support/injection-corpus.js';
import { diagnose, tester } from '../support/playbook-helpers.js';

// The corpus (test/support/injection-corpus.ts) through validation and resolution: each
// value refused where it stands, or reaching the host's settings unchanged. That an accepted
// value stays one word in a real /bin/sh is test/integration/playbook-injection-corpus.test.ts.

const scratch = mkdtempSync(join(tmpdir(), 'memplay-injection-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('hostile values in every text field: refused where they stand, or on the host unchanged', () => {
  it.each(cases)('$spec.path with $what', ({ field, spec, value }) => {
    const text = playbookWith(field, value);
    const diagnostics = diagnose(text, 'corpus.yml');
    if (spec.refuses(value)) {
      const lines = text.split('\n');
      const line = lines.findIndex((l) => l.includes(JSON.stringify(value))) + 1;
      const col = (lines[line - 1] as string).indexOf(JSON.stringify(value)) + 1;
      expect(diagnostics.length, JSON.stringify(diagnostics)).toBe(1);
      const [refusal] = diagnostics;
      expect({ line: refusal?.line, col: refusal?.col }).toEqual({ line, col });
      expect(refusal?.message.startsWith(`${spec.path}: `), refusal?.message).toBe(true);
      // What the value must be or what to do instead, and never the whole 5000 characters back at the user.
      expect(refusal?.message).toMatch(/: must | — |; /);
      expect(refusal?.message.length).toBeLessThan(400);
      return;
    }
    expect(diagnostics).toEqual([]);
    const parsed = parsePlaybookText('/fleet/corpus.yml', text);
    const playbook = resolvePlaybook(parsed.source?.data() as PlaybookDocument, '/fleet/corpus.yml', tester);
    if (spec.onHost) {
      expect(spec.onHost(playbook)).toBe(value);
    }
  });

  it('refuses what a shell would run in the fields that never reach one quoted: address, user, unit', () => {
    for (const field of ['address', 'user', 'unit']) {
      for (const [, raw] of hostile)
        expect(diagnose(playbookWith(field, raw)).length, `${field} ${raw}`).toBe(1);
    }
  });

  it('a byte that is not UTF-8 is refused at its line and column, not turned into another character', async () => {
    const file = join(scratch, 'latin1.yml');
    const text = playbookWith('args', 'PLACEHOLDER');
    const at = Buffer.from(text).indexOf('PLACEHOLDER');
    writeFileSync(
      file,
      Buffer.concat([
        Buffer.from(text.slice(0, at)),
        Buffer.from([0x63, 0x61, 0x66, 0xe9]),
        Buffer.from(text.slice(at + 11)),
      ]),
    );
    const line = text.slice(0, at).split('\n').length;
    const col = at - text.slice(0, at).lastIndexOf('\n') + 3;
    expect(await validatePlaybookFile(file)).toEqual([
      {
        file,
        line,
        col,
        message:
          'the playbook is not UTF-8: byte 0xe9 here cannot be read as text, and would silently become a different character — save the file as UTF-8',
      },
    ]);
  });
});
