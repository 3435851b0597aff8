import { expect } from 'vitest';
import type { Diagnostic } from '../../src/errors.js';
import { parsePlaybookText } from '../../src/playbook/load.js';
import { type PlaybookDocument, resolvePlaybook } from '../../src/playbook/resolve.js';
import type { Playbook } from '../../src/playbook/types.js';
import { checkPlaybook, orderDiagnostics } from '../../src/playbook/validate.js';

export const SHA256 = '074076ab3e889e16e763c6a3e5cadacc6696979dbb8c473bbf871d498b19b1a0';
export const tester = { homeDir: '/home/tester', userName: 'tester' };

/** Every diagnostic of an in-memory playbook, as `memplay validate` would report it. */
export function diagnose(text: string, file = 'fleet.yml'): Diagnostic[] {
  const loaded = parsePlaybookText(file, text);
  return orderDiagnostics([...loaded.diagnostics, ...(loaded.source ? checkPlaybook(loaded.source) : [])]);
}

/** An in-memory playbook that must be valid, resolved as if it were `file`, for the user `tester`. */
export function resolveText(text: string, file = '/fleet/prod/playbook.yml'): Playbook {
  const loaded = parsePlaybookText(file, text);
  expect(diagnose(text, file)).toEqual([]);
  return resolvePlaybook(loaded.source?.data() as PlaybookDocument, file, tester);
}

/** A valid playbook's first lines (name and target); append defaults, hosts, … */
export const head = `name: test fleet
target:
  version: "1.6.38"
  source:
    path: /srv/memcached-1.6.38.tar.gz
    sha256: ${SHA256}
`;
