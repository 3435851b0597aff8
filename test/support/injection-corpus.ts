import type { Playbook } from '../../src/playbook/types.js';
import { SHA256 } from './playbook-helpers.js';

// Hostile values in every text field of a playbook. Each must be either refused
// by validation, pointing at the value (file:line:col) with a fix, or accepted
// and then reach the host unchanged as one shell word: test/unit/playbook-injection-corpus.test.ts
// checks the first half, test/integration/playbook-injection-corpus.test.ts the shell.

export const hostile: readonly (readonly [string, string])[] = [
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

export interface Field {
  readonly path: string;
  /** Makes the value fit what the field must start with, so the hostile part is what is judged. */
  readonly wrap: (v: string) => string;
  readonly refuses: (wrapped: string) => boolean;
  /** Where the resolved playbook holds it, for fields that reach the host. */
  readonly onHost?: (p: Playbook) => string | undefined;
}

const everything = () => true;
const textRule = (v: string) => control(v) || long(v);
export const fields: Record<string, Field> = {
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
export function playbookWith(field: string, value: string): string {
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

export const cases = Object.entries(fields).flatMap(([field, spec]) =>
  hostile.map(([what, raw]) => ({ field, spec, what, value: spec.wrap(raw) })),
);
