import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parsePlaybookText } from '../../src/playbook/load.js';
import { type PlaybookDocument, resolvePlaybook } from '../../src/playbook/resolve.js';
import { sh } from '../../src/transport/quote.js';
import { cases, playbookWith } from '../support/injection-corpus.js';
import { diagnose, tester } from '../support/playbook-helpers.js';

// The accepted half of the corpus (test/support/injection-corpus.ts), as the host's shell
// reads it: each value the playbook lets through stays one literal word.

/** What /bin/sh makes of a value quoted by `sh`: how many words, and the first. */
function throughTheShell(value: string): string {
  return execFileSync('/bin/sh', ['-c', sh`set -- ${value}; printf '%s|%s' "$#" "$1"`.text], {
    encoding: 'utf8',
  });
}

const reachingTheHost = cases.filter(
  ({ field, spec, value }) => spec.onHost && diagnose(playbookWith(field, value), 'corpus.yml').length === 0,
);

describe('hostile values that reach the host: one literal word in a real /bin/sh', () => {
  it('leaves some accepted values to check', () => {
    expect(reachingTheHost.length).toBeGreaterThan(10);
  });

  it.each(reachingTheHost)('$spec.path with $what', ({ field, spec, value }) => {
    const parsed = parsePlaybookText('/fleet/corpus.yml', playbookWith(field, value));
    const playbook = resolvePlaybook(parsed.source?.data() as PlaybookDocument, '/fleet/corpus.yml', tester);
    const onHost = spec.onHost?.(playbook) ?? '';
    expect(throughTheShell(onHost)).toBe(`1|${value}`);
  });
});
