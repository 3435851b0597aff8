import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validatePlaybookFile } from '../../src/playbook/index.js';
import { parsePlaybookText } from '../../src/playbook/load.js';
import { type PlaybookDocument, resolvePlaybook } from '../../src/playbook/resolve.js';
import type { Playbook } from '../../src/playbook/types.js';
import { sh } from '../../src/transport/quote.js';
import { diagnose, SHA256, tester } from './playbook-helpers.js';

// Hostile values in every text field of a playbook. Each must be either refused
// by validation, pointing at the value (file:line:col) with a fix, or accepted
// and then reach the host unchanged as one shell word.

const scratch = mkdtempSync(join(tmpdir(), 'memplay-injection-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const hostile: readonly (readonly [string, string])[] = [
  ['a semicolon', '-o;touch /tmp/pwned'],
  ['command substitution', '$(touch /tmp/pwned)'],
  ['backquotes', '`touch /tmp/pwned`'],
  ['a newline', 'x\ntouch /tmp/pwned'],
  ['a parent folder', '../../etc/passwd'],
  ['a leading dash', '-oProxyCommand=touch /tmp/pwned'],
  ['a NUL', 'a\u0000b'],
  ['a very long string', 'x'.repeat(5000)],
  ['quotes', `it's "quoted"`],
  ['a glob', '*'],
];

const control = (v: string) => [...v].some((c) => c.charCodeAt(0) < 0x20);
const long = (v: string) => v.length > 4096;
const goesUp = (v: string) => /(^|\/)\.\.(\/|$)/.test(v);

interface Field {
  readonly path: string;
  /** Makes the value fit what the field must start with, so the hostile part is what is judged. */
  readonly wrap: (v: string) => string;
  readonly refuses: (wrapped: string) => boolean;
  /** Where the resolved playbook holds it, for fields that reach the host. */
  readonly onHost?: (p: Playbook) => string | undefined;
}

const everything = () => true;
const textRule = (v: string) => control(v) || long(v);
const fields: Record<string, Field> = {
  name: { path: 'name', wrap: (v) => v, refuses: textRule },
  url: {
    path: 'target.source.url',
    wrap: (v) => `https://example.com/${v}`,
    refuses: (v) => textRule(v) || /\s/.test(v),
  },
  configure: {
    path: 'target.configure[0]',
    wrap: (v) => v,
    refuses: textRule,
    onHost: (p) => p.target.configure[0],
  },
  backup: { path: 'backup.dir', wrap: (v) => v, refuses: textRule },
  address: { path: 'hosts.host1.address', wrap: (v) => v, refuses: everything },
  user: { path: 'hosts.host1.ssh.user', wrap: (v) => v, refuses: everything },
  identity: { path: 'hosts.host1.ssh.identity_file', wrap: (v) => v, refuses: textRule },
  known: { path: 'hosts.host1.ssh.known_hosts', wrap: (v) => v, refuses: textRule },
  prefix: {
    path: 'hosts.host1.memcached.prefix',
    wrap: (v) => `/srv/${v}`,
    refuses: (v) => textRule(v) || goesUp(v),
    onHost: (p) => p.hosts[0]?.memcached.prefix,
  },
  args: {
    path: 'hosts.host1.memcached.args[0]',
    wrap: (v) => v,
    refuses: textRule,
    onHost: (p) => p.hosts[0]?.memcached.args[0],
  },
  pidfile: {
    path: 'hosts.host1.memcached.service.pidfile',
    wrap: (v) => `/run/${v}`,
    refuses: (v) => textRule(v) || goesUp(v),
    onHost: (p) => {
      const service = p.hosts[0]?.memcached.service;
      return service?.manager === 'pidfile' ? service.pidfile : undefined;
    },
  },
  unit: { path: 'hosts.host1.memcached.service.unit', wrap: (v) => v, refuses: everything },
};

const safe: Record<string, string> = {
  name: 'corpus',
  url: 'https://example.com/memcached-1.6.38.tar.gz',
  configure: '--disable-coverage',
  backup: './backups',
  address: '10.0.0.1',
  user: 'deploy',
  identity: '~/.ssh/id_ed25519',
  known: '~/.ssh/known_hosts',
  prefix: '/opt/memcached',
  args: '-v',
  pidfile: '/run/memcached.pid',
  unit: 'memcached.service',
};

// JSON text is a YAML double-quoted scalar: escapes keep NUL and newlines on one line.
function playbookWith(field: string, value: string): string {
  const v = (name: string) => JSON.stringify(name === field ? value : safe[name]);
  const service =
    field === 'unit'
      ? `{ manager: systemd, unit: ${v('unit')} }`
      : `{ manager: pidfile, pidfile: ${v('pidfile')} }`;
  return `name: ${v('name')}
target:
  version: "1.6.38"
  source:
    url: ${v('url')}
    sha256: ${SHA256}
  configure: [${v('configure')}]
backup:
  dir: ${v('backup')}
hosts:
  host1:
    address: ${v('address')}
    ssh:
      user: ${v('user')}
      identity_file: ${v('identity')}
      known_hosts: ${v('known')}
    memcached:
      prefix: ${v('prefix')}
      args: [${v('args')}]
      service: ${service}
`;
}

/** What /bin/sh makes of a value quoted by `sh`: how many words, and the first. */
function throughTheShell(value: string): string {
  return execFileSync('/bin/sh', ['-c', sh`set -- ${value}; printf '%s|%s' "$#" "$1"`.text], {
    encoding: 'utf8',
  });
}

const cases = Object.entries(fields).flatMap(([field, spec]) =>
  hostile.map(([what, raw]) => ({ field, spec, what, value: spec.wrap(raw) })),
);

describe('hostile values in every text field: refused where they stand, or one literal word', () => {
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
      expect(throughTheShell(value)).toBe(`1|${value}`);
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
