import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { formatDiagnostic } from '../../src/errors.js';
import { runMemplay } from '../e2e/memplay-cli.js';
import {
  badPlaybookFolder,
  badPlaybookNames,
  badPlaybookSupportFolders,
  expectedDiagnostics,
  expectedExit,
} from '../support/bad-playbook-fixtures.js';
import {
  type ContactCounter,
  FIXTURE_ADDRESSES,
  pointAtCounter,
  startContactCounter,
} from './contact-counter.js';

// Issue 4, "bad input, everywhere": every malformed playbook and command line exits 4
// (playbook) or 5 (command line) with a message that points at the mistake and says
// what to do, prints no stack trace, and contacts no host. The built CLI runs as a
// user runs it; every host it could reach is a counting listener on loopback.
//
// What -v shows: for these expected failures, the same message and no stack trace.
// Only an internal error (a bug) prints its stack, and only with -v (cli-report-error.test.ts).

// An agent socket that does not exist: memplay would otherwise refuse to log in without
// trying, before it connects, and a missed check could go unseen.
const env = { SSH_AUTH_SOCK: '/nonexistent/memplay-test-agent.sock' };
const spawnTimeout = 30_000;

interface Sandbox {
  readonly counter: ContactCounter;
  readonly dir: string;
}

async function inSandbox(test: (sandbox: Sandbox) => Promise<void>): Promise<void> {
  const counter = await startContactCounter();
  const dir = await mkdtemp(join(tmpdir(), 'memplay-bad-input-'));
  try {
    await test({ counter, dir });
  } finally {
    await counter.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The fixture, rewritten to log in at the counter, with its expectations moved along. */
async function fixtureCopy(name: string, { counter, dir }: Sandbox) {
  // Bytes kept as they are (latin1 both ways): not-utf8.yml's mistake must survive the copy.
  const bytes = await readFile(join(badPlaybookFolder, name));
  const copy = pointAtCounter(bytes.toString('latin1'), counter.port);
  const file = join(dir, name);
  await writeFile(file, Buffer.from(copy.text, 'latin1'));
  for (const folder of badPlaybookSupportFolders) {
    await cp(join(badPlaybookFolder, folder), join(dir, folder), { recursive: true });
  }
  const expected = expectedDiagnostics(file, bytes.toString('utf8')).map((d) =>
    formatDiagnostic({ ...d, line: copy.line(d.line) }),
  );
  return { file, text: copy.text, expected };
}

/** The FILE:LINE:COL lines of stderr that are about `file`. */
function diagnosticsAbout(stderr: string, file: string): string[] {
  return stderr.split('\n').filter((line) => line.startsWith(`${file}:`));
}

function expectNoStackTrace(stderr: string): void {
  expect(stderr).not.toMatch(/^\s+at \S/m);
  expect(stderr).not.toContain('internal error');
}

const playbookNextStep = 'nothing was run: fix what is listed above and run the command again';

describe.concurrent('every bad playbook, through the built CLI', () => {
  it('every fixture host with an address logs in at the counter (so a missed check would be counted)', async () => {
    await inSandbox(async (sandbox) => {
      for (const name of badPlaybookNames) {
        const { text } = await fixtureCopy(name, sandbox);
        let document: unknown;
        try {
          document = parse(text);
        } catch {
          continue; // broken YAML: memplay cannot read a host from it either
        }
        const { defaults, hosts } = (document ?? {}) as {
          defaults?: { ssh?: { port?: unknown } };
          hosts?: unknown;
        };
        if (typeof hosts !== 'object' || hosts === null) continue;
        for (const host of Object.values(hosts) as { address?: unknown; ssh?: { port?: unknown } }[]) {
          if (typeof host?.address !== 'string') continue;
          // This fixture's mistake is the address itself: no host answers at "10.0.0.1;$(touch …)".
          if (name === 'address-with-shell-command.yml') continue;
          expect(FIXTURE_ADDRESSES, `${name}: address`).toContain(host.address);
          const port = host.ssh?.port ?? defaults?.ssh?.port ?? 22;
          // ssh-port-zero's mistake is the port itself; nothing can be contacted on port 0.
          expect([sandbox.counter.port, 0], `${name}: ssh port`).toContain(port);
        }
      }
    });
  });

  it.each(badPlaybookNames)(
    'apply %s exits 4 at the positions its "# expect:" lines give, says what to do, prints no stack trace, contacts no host',
    async (name) => {
      await inSandbox(async (sandbox) => {
        const { file, text, expected } = await fixtureCopy(name, sandbox);
        const run = await runMemplay(['apply', file, '--output', 'plain'], env);
        expect(run.code, run.stderr).toBe(expectedExit(text));
        expect(diagnosticsAbout(run.stderr, file)).toEqual(expected);
        expect(run.stderr).toContain(`${playbookNextStep} (memplay validate ${file} rechecks`);
        expect(run.stdout).toBe('');
        expectNoStackTrace(run.stderr);
        expect(sandbox.counter.contacts).toEqual([]);
      });
    },
    spawnTimeout,
  );

  const sample = [
    'yaml-syntax-error.yml',
    'tab-indent.yml',
    'three-independent-mistakes.yml',
    'duplicate-address-port.yml',
    'identity-file-tilde-user.yml',
    'systemd-unit-missing-in-defaults.yml',
  ];
  const otherCommands: readonly [string, (file: string, dir: string) => string[]][] = [
    ['backup', (file) => ['backup', file]],
    ['restore --from', (file, dir) => ['restore', file, '--from', dir]],
    ['apply -v', (file) => ['apply', file, '-v', '--output', 'json']],
    ['apply --check --limit', (file) => ['apply', file, '--check', '--limit', 'nothere']],
  ];
  it.each(sample.flatMap((name) => otherCommands.map(([label, args]) => [label, name, args] as const)))(
    '%s %s exits 4 the same way: the playbook is checked before anything else',
    async (_label, name, args) => {
      await inSandbox(async (sandbox) => {
        const { file, expected } = await fixtureCopy(name, sandbox);
        const run = await runMemplay(args(file, sandbox.dir), env);
        expect(run.code, run.stderr).toBe(4);
        expect(diagnosticsAbout(run.stderr, file)).toEqual(expected);
        expect(run.stderr).toContain(playbookNextStep);
        expectNoStackTrace(run.stderr);
        expect(sandbox.counter.contacts).toEqual([]);
      });
    },
    spawnTimeout,
  );

  it.each(sample)(
    'validate %s exits 4 with the same diagnostics and a count',
    async (name) => {
      await inSandbox(async (sandbox) => {
        const { file, expected } = await fixtureCopy(name, sandbox);
        const run = await runMemplay(['validate', file], env);
        expect(run.code, run.stderr).toBe(4);
        expect(diagnosticsAbout(run.stderr, file)).toEqual(expected);
        expect(run.stderr).toMatch(/^\d+ problems?; nothing was run: fix (it|them) and validate again$/m);
        expectNoStackTrace(run.stderr);
        expect(sandbox.counter.contacts).toEqual([]);
      });
    },
    spawnTimeout,
  );
});

// A valid fleet whose two hosts are the counter; the command line is what is wrong.
function fleetPlaybook(port: number, { defaultsSsh = '', cache2Ssh = '' } = {}): string {
  return [
    'name: bad command lines',
    'target:',
    '  version: "1.6.38"',
    '  source:',
    '    path: memcached-1.6.38.tar.gz',
    '    sha256: 074076ab3e889e16e763c6a3e5cadacc6696979dbb8c473bbf871d498b19b1a0',
    'defaults:',
    `  ssh: { port: ${port}, connect_timeout: 2, known_hosts: ./known_hosts${defaultsSsh} }`,
    'hosts:',
    '  cache1:',
    '    address: 127.0.0.1',
    '  cache2:',
    '    address: 127.0.0.2',
    ...(cache2Ssh ? [`    ssh: { ${cache2Ssh} }`] : []),
    'groups:',
    '  east: [cache1]',
    '',
  ].join('\n');
}

/** FILE:LINE:COL of the first `needle` in the playbook text. */
function positionOf(file: string, text: string, needle: string): string {
  const lines = text.split('\n');
  const line = lines.findIndex((l) => l.includes(needle));
  return `${file}:${line + 1}:${(lines[line] as string).indexOf(needle) + 1}`;
}

interface BadCommandLine {
  readonly name: string;
  /** Builds the command line; may write files into the sandbox first. */
  readonly args: (fleet: string, sandbox: Sandbox) => Promise<string[]> | string[];
  readonly code: 4 | 5;
  /** What stderr must say: the mistake, and what to do about it. */
  readonly says: (fleet: string, sandbox: Sandbox) => string[];
}

const commanderHint = (sub: string) => `(memplay ${sub} --help lists its arguments and options)`;
const hostsAndGroups = 'known hosts: cache1, cache2; groups: east';

const badCommandLines: readonly BadCommandLine[] = [
  {
    name: 'the playbook file does not exist',
    args: (_fleet, { dir }) => ['apply', join(dir, 'nope.yml')],
    code: 4,
    says: (_fleet, { dir }) => [
      `${join(dir, 'nope.yml')}:1:1: cannot read the playbook: no such file; check the path`,
      playbookNextStep,
    ],
  },
  {
    name: 'the playbook is a folder',
    args: (_fleet, { dir }) => ['apply', dir],
    code: 4,
    says: (_fleet, { dir }) => [
      `${dir}:1:1: cannot read the playbook: this is a folder; give the path of a .yml file`,
    ],
  },
  {
    name: 'the playbook is /dev/zero (it used to grow memplay by gigabytes)',
    args: () => ['apply', '/dev/zero'],
    code: 4,
    says: () => [
      '/dev/zero:1:1: cannot read the playbook: this is a device, not a regular file; give the path of a .yml file (or - to read standard input)',
      playbookNextStep,
    ],
  },
  {
    name: 'the playbook is a FIFO (it used to wait for a writer forever)',
    args: (_fleet, { dir }) => {
      execFileSync('mkfifo', [join(dir, 'fifo.yml')]);
      return ['validate', join(dir, 'fifo.yml')];
    },
    code: 4,
    says: (_fleet, { dir }) => [
      `${join(dir, 'fifo.yml')}:1:1: cannot read the playbook: this is a FIFO (named pipe), not a regular file; give the path of a .yml file (or - to read standard input)`,
    ],
  },
  {
    name: 'the playbook is larger than 4 MiB (50 MB of YAML used to abort V8 with exit 134)',
    args: async (_fleet, { dir }) => {
      const file = join(dir, 'huge.yml');
      await writeFile(file, `hosts:\n${'  x: 1\n'.repeat(2_500_000)}`);
      return ['apply', file];
    },
    code: 4,
    says: (_fleet, { dir }) => [
      `${join(dir, 'huge.yml')}:1:1: cannot read the playbook: it is 16.7 MiB, more than the 4.0 MiB memplay reads; a playbook of 10,000 hosts written out in full takes under 2 MiB — check that this is the file you meant`,
    ],
  },
  {
    name: 'validate on a playbook that does not exist',
    args: (_fleet, { dir }) => ['validate', join(dir, 'nope.yml')],
    code: 4,
    says: (_fleet, { dir }) => [
      `${join(dir, 'nope.yml')}:1:1: cannot read the playbook: no such file; check the path`,
      '1 problem; nothing was run: fix it and validate again',
    ],
  },
  {
    name: 'defaults.ssh.identity_file does not exist',
    args: async (_fleet, { counter, dir }) => {
      const file = join(dir, 'fleet-missing-key.yml');
      await writeFile(file, fleetPlaybook(counter.port, { defaultsSsh: ', identity_file: ./missing_key' }));
      return ['apply', file];
    },
    code: 4,
    says: (_fleet, { counter, dir }) => {
      const file = join(dir, 'fleet-missing-key.yml');
      const text = fleetPlaybook(counter.port, { defaultsSsh: ', identity_file: ./missing_key' });
      return [
        `${positionOf(file, text, './missing_key')}: defaults.ssh.identity_file: cannot read ${join(dir, 'missing_key')} (no such file), needed to log in to cache1, cache2; give the path of a private key file on this machine, or remove identity_file to use ssh-agent`,
        playbookNextStep,
      ];
    },
  },
  {
    name: "a host's own identity_file is a folder",
    args: async (_fleet, { counter, dir }) => {
      await mkdir(join(dir, 'keys'));
      const file = join(dir, 'fleet-key-folder.yml');
      await writeFile(file, fleetPlaybook(counter.port, { cache2Ssh: 'identity_file: ./keys' }));
      return ['backup', file];
    },
    code: 4,
    says: (_fleet, { counter, dir }) => {
      const file = join(dir, 'fleet-key-folder.yml');
      const text = fleetPlaybook(counter.port, { cache2Ssh: 'identity_file: ./keys' });
      return [
        `${positionOf(file, text, './keys')}: hosts.cache2.ssh.identity_file: cannot read ${join(dir, 'keys')} (it is a folder), needed to log in to cache2;`,
      ];
    },
  },
  {
    name: '--limit names no host or group',
    args: (fleet) => ['apply', fleet, '--limit', 'west'],
    code: 5,
    says: () => [`memplay: --limit "west" matches no host or group; ${hostsAndGroups}`],
  },
  {
    name: '--limit is empty',
    args: (fleet) => ['apply', fleet, '--limit', ''],
    code: 5,
    says: () => [`memplay: --limit "" names no host or group; ${hostsAndGroups}`],
  },
  {
    name: '--limit is only separators',
    args: (fleet) => ['backup', fleet, '-l', ' , '],
    code: 5,
    says: () => [`memplay: --limit " , " names no host or group; ${hostsAndGroups}`],
  },
  {
    name: '--limit excludes every host it includes',
    args: (fleet) => ['apply', fleet, '--limit', 'east,!cache1'],
    code: 5,
    says: () => [
      `memplay: --limit "east,!cache1" leaves no host selected once its ! exclusions are applied; ${hostsAndGroups}`,
    ],
  },
  {
    name: '--limit excludes a name that does not exist',
    args: (fleet) => ['apply', fleet, '--limit', '!cache9'],
    code: 5,
    says: () => [`memplay: --limit "cache9" matches no host or group; ${hostsAndGroups}`],
  },
  {
    name: '--limit with an empty set of characters (it used to match every host)',
    args: (fleet) => ['apply', fleet, '--limit', 'cache[!]'],
    code: 5,
    says: () => [
      'memplay: --limit "cache[!]" has an empty set of characters "[!]"; write the characters to exclude inside, like [!0-9]',
    ],
  },
  {
    name: '--limit of 100,000 stars (it used to exit 250 with the pattern in a 200 KB message)',
    args: (fleet) => ['apply', fleet, '--limit', '*'.repeat(100_000)],
    code: 5,
    says: () => [
      `memplay: --limit "${'*'.repeat(80)}… (100000 characters)" is 100000 characters long; a host name or pattern has at most 256`,
    ],
  },
  ...['0', 'abc', '1.5', '-1', '10001', '0x10', '1e3', ' 7'].map(
    (forks): BadCommandLine => ({
      name: `--forks ${forks}`,
      args: (fleet) => ['apply', fleet, '--forks', forks],
      code: 5,
      says: () => [`memplay: --forks must be a whole number from 1 to 10000, got "${forks}"`],
    }),
  ),
  {
    name: '--forks without a value',
    args: (fleet) => ['apply', fleet, '--forks'],
    code: 5,
    says: () => ["error: option '-f, --forks <n>' argument missing", commanderHint('apply')],
  },
  {
    name: '--output xml',
    args: (fleet) => ['apply', fleet, '--output', 'xml'],
    code: 5,
    says: () => ['memplay: --output must be pretty, plain or json, got "xml"'],
  },
  {
    name: '--view tree',
    args: (fleet) => ['apply', fleet, '--view', 'tree'],
    code: 5,
    says: () => ['memplay: --view must be auto, batches or hosts, got "tree"'],
  },
  {
    name: 'restore without --from',
    args: (fleet) => ['restore', fleet],
    code: 5,
    says: () => ["error: required option '--from <path>' not specified", commanderHint('restore')],
  },
  {
    name: 'restore --from a path that does not exist',
    args: (fleet, { dir }) => ['restore', fleet, '--from', join(dir, 'gone.mpbak')],
    code: 5,
    says: (_fleet, { dir }) => [
      `memplay: --from ${join(dir, 'gone.mpbak')}: no such file or folder on this machine; give a .mpbak file, or the backup.dir folder holding <host>/*.mpbak`,
    ],
  },
  {
    name: 'restore --from an empty path',
    args: (fleet) => ['restore', fleet, '--from', ''],
    code: 5,
    says: () => ['memplay: --from : no such file or folder on this machine;'],
  },
  {
    name: 'restore --from a file that is not a memplay backup',
    args: async (fleet, { dir }) => {
      await writeFile(join(dir, 'dump.txt'), 'ITEM a [1 b; 0 s]\n');
      return ['restore', fleet, '--from', join(dir, 'dump.txt')];
    },
    code: 5,
    says: (_fleet, { dir }) => [
      `memplay: --from ${join(dir, 'dump.txt')} is not a backup memplay can restore: not a memplay backup (no MEMPLAY-BACKUP line at byte 0); give a .mpbak file written by memplay backup or apply`,
    ],
  },
  {
    name: 'restore --from a backup of a format version this memplay does not read',
    args: async (fleet, { dir }) => {
      await writeFile(join(dir, 'future.mpbak'), `MEMPLAY-BACKUP 9\n${' '.repeat(5000)}`);
      return ['restore', fleet, '--from', join(dir, 'future.mpbak'), '--check'];
    },
    code: 5,
    says: (_fleet, { dir }) => [
      `memplay: --from ${join(dir, 'future.mpbak')} is not a backup memplay can restore: format version 9; this memplay reads version 1;`,
    ],
  },
  {
    name: 'restore --from a folder with no backup for any selected host',
    args: async (fleet, { dir }) => {
      await mkdir(join(dir, 'backups', 'cache2'), { recursive: true });
      return ['restore', fleet, '--from', join(dir, 'backups'), '--limit', 'cache1'];
    },
    code: 5,
    says: (_fleet, { dir }) => [
      `memplay: --from ${join(dir, 'backups')} holds no backup for cache1 (looked for ${join(dir, 'backups')}/<host>/*.mpbak); give the backup.dir folder that memplay backup wrote to, or one .mpbak file`,
    ],
  },
  {
    name: '--from given to apply',
    args: (fleet, { dir }) => ['apply', fleet, '--from', dir],
    code: 5,
    says: () => ["error: unknown option '--from'", commanderHint('apply')],
  },
  {
    name: '--from given to backup',
    args: (fleet, { dir }) => ['backup', fleet, '--from', dir],
    code: 5,
    says: () => ["error: unknown option '--from'", commanderHint('backup')],
  },
  {
    name: 'a misspelt option',
    args: (fleet) => ['apply', fleet, '--limt', 'east'],
    code: 5,
    says: () => ["error: unknown option '--limt'", '(Did you mean --limit?)'],
  },
  {
    name: '--check given to validate',
    args: (fleet) => ['validate', fleet, '--check'],
    code: 5,
    says: () => ["error: unknown option '--check'", commanderHint('validate')],
  },
  {
    name: 'a second playbook to apply',
    args: (fleet) => ['apply', fleet, fleet],
    code: 5,
    says: () => [
      "error: too many arguments for 'apply'. Expected 1 argument but got 2.",
      commanderHint('apply'),
    ],
  },
  {
    name: 'an extra argument to validate',
    args: (fleet) => ['validate', fleet, 'now'],
    code: 5,
    says: () => [
      "error: too many arguments for 'validate'. Expected 1 argument but got 2.",
      commanderHint('validate'),
    ],
  },
  {
    name: 'an argument to schema',
    args: (fleet) => ['schema', fleet],
    code: 5,
    says: () => [
      "error: too many arguments for 'schema'. Expected 0 arguments but got 1.",
      commanderHint('schema'),
    ],
  },
  {
    name: 'apply without a playbook',
    args: () => ['apply', '--check'],
    code: 5,
    says: () => ["error: missing required argument 'file'", commanderHint('apply')],
  },
  {
    name: 'a misspelt subcommand',
    args: (fleet) => ['aply', fleet],
    code: 5,
    says: () => ["error: unknown command 'aply'", '(Did you mean apply?)'],
  },
  {
    name: 'another misspelt subcommand',
    args: (fleet) => ['restor', fleet, '--from', 'backups'],
    code: 5,
    says: () => ["error: unknown command 'restor'", '(Did you mean restore?)'],
  },
];

describe.concurrent('every bad command line, through the built CLI', () => {
  it(
    'a valid command line on the same fleet does contact its hosts: the counter would see a missed check',
    async () => {
      await inSandbox(async (sandbox) => {
        const fleet = join(sandbox.dir, 'fleet.yml');
        await writeFile(fleet, fleetPlaybook(sandbox.counter.port));
        const run = await runMemplay(['apply', fleet, '--check', '--output', 'plain'], env);
        expect(run.code, run.stdout + run.stderr).toBe(3);
        expect(sandbox.counter.contacts).toEqual(
          expect.arrayContaining([`127.0.0.1:${sandbox.counter.port}`, `127.0.0.2:${sandbox.counter.port}`]),
        );
      });
    },
    spawnTimeout,
  );

  it.each(badCommandLines.map((c) => [c.name, c] as const))(
    '%s: exits with its code and says what is wrong and what to do, without a stack trace or any host contacted',
    async (_name, badCommandLine) => {
      await inSandbox(async (sandbox) => {
        const fleet = join(sandbox.dir, 'fleet.yml');
        await writeFile(fleet, fleetPlaybook(sandbox.counter.port));
        const run = await runMemplay(await badCommandLine.args(fleet, sandbox), env);
        expect(run.code, run.stderr).toBe(badCommandLine.code);
        for (const text of badCommandLine.says(fleet, sandbox)) expect(run.stderr).toContain(text);
        expectNoStackTrace(run.stderr);
        expect(sandbox.counter.contacts).toEqual([]);
      });
    },
    spawnTimeout,
  );

  it('covers at least 40 distinct bad inputs across playbooks and command lines', () => {
    expect(badPlaybookNames.length + badCommandLines.length).toBeGreaterThanOrEqual(40);
    expect(new Set(badCommandLines.map((c) => c.name)).size).toBe(badCommandLines.length);
  });
});
