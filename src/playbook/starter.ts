import { isAbsolute, relative } from 'node:path';

// The starter playbook `memplay init` writes: every section present, each with a
// comment saying what it is for, so a first-time user edits rather than looks up.
// Values are written as JSON scalars (JSON is YAML), so a value can never break
// out of its line or change the file's structure; `memplay init` validates the
// result with the same validator as `memplay validate` before it keeps it.

export interface StarterHost {
  readonly name: string;
  readonly address: string;
}

export interface StarterSettings {
  readonly name: string;
  readonly hosts: readonly StarterHost[];
  readonly version: string;
  readonly source:
    | { readonly kind: 'url'; readonly url: string }
    | { readonly kind: 'path'; readonly path: string };
  readonly sha256: string;
  /** The SSH user; undefined: the controller's user at run time. */
  readonly user?: string;
  readonly sshPort: number;
  /** The memcached port. */
  readonly port: number;
  readonly prefix: string;
  /** A count, or a percentage such as `25%`. */
  readonly serial: number | string;
  readonly backupDir: string;
  /** `ssh.identity_file` for every host; undefined: the line is written as a comment. */
  readonly identityFile?: string;
  /** `ssh.known_hosts` for every host; undefined: the line is written as a comment. */
  readonly knownHosts?: string;
  /** How memcached is stopped and started; undefined: memplay's pidfile default, as a comment. */
  readonly service?: StarterService;
}

export type StarterService =
  | { readonly manager: 'pidfile'; readonly pidfile: string }
  | { readonly manager: 'systemd'; readonly unit: string };

/** Where memcached.org publishes a release's tarball. */
export function releaseUrl(version: string): string {
  return `https://memcached.org/files/memcached-${version}.tar.gz`;
}

/**
 * The schema reference for the `yaml-language-server` line: relative when the
 * playbook sits in or beside memplay's folder (a checkout's examples/), else
 * absolute, which still holds when the folder is moved.
 */
export function schemaReference(playbookDir: string, schemaFile: string): string {
  const path = relative(playbookDir, schemaFile);
  return path.startsWith('../../') || isAbsolute(path) ? schemaFile : path;
}

/** A value as a JSON scalar (JSON is YAML): it can never break out of its line. */
export const q = (value: string | number) => JSON.stringify(value);

/** `{ manager: "pidfile", pidfile: "/run/memcached.pid" }`: a flow mapping of JSON scalars. */
export function flowMapping(entries: Readonly<Record<string, string | number>>): string {
  return `{ ${Object.entries(entries)
    .map(([key, value]) => `${key}: ${q(value)}`)
    .join(', ')} }`;
}

/** The first lines of every playbook `memplay init` writes: the schema, where it came from, what to run next. */
export function headerLines(schemaRef: string, origin: string): string[] {
  return [
    `# yaml-language-server: $schema=${schemaRef}`,
    origin,
    '#   memplay validate FILE          every problem at once, as FILE:LINE:COL',
    '#   memplay facts FILE             what each host runs now: version, builds, items, hit ratio',
    '#   memplay apply FILE --check     what apply would do on each host; nothing is touched',
    '#   memplay apply FILE             upgrade host by host, every cached item carried across',
    '# Every key is described by `memplay schema` and in docs/playbook.md (every key: docs/playbook-reference.md).',
  ];
}

type TargetSettings = Pick<StarterSettings, 'name' | 'version' | 'source' | 'sha256'>;

/** `name:` and `target:`, each with the comment saying what it is for. */
export function targetLines(settings: TargetSettings): string[] {
  const source =
    settings.source.kind === 'url'
      ? `    url: ${q(settings.source.url)}   # or path: a tarball on the controller (relative: from this file's folder)`
      : `    path: ${q(settings.source.path)}   # or url: https://… (downloaded once by the controller)`;
  return [
    '# A short title, shown at the top of every report.',
    `name: ${q(settings.name)}`,
    '',
    '# The release every host ends up running. The tarball is checked against sha256',
    '# on the controller and again on each host before anything is built.',
    'target:',
    `  version: ${q(settings.version)}`,
    '  source:',
    source,
    `    sha256: ${q(settings.sha256)}`,
    '  # configure: ["--enable-tls"]   # extra ./configure arguments, one list item each',
  ];
}

/** `identity_file` and `known_hosts` under `ssh:`, or the comment that says what leaving them out means. */
export function sshFileLines(settings: Pick<StarterSettings, 'identityFile' | 'knownHosts'>): string[] {
  return [
    settings.identityFile === undefined
      ? '    # identity_file: ~/.ssh/id_ed25519   # without it, the keys in your ssh-agent are tried'
      : `    identity_file: ${q(settings.identityFile)}`,
    settings.knownHosts === undefined
      ? '    # known_hosts: ~/.ssh/known_hosts    # host keys are checked strictly against this file'
      : `    known_hosts: ${q(settings.knownHosts)}   # host keys are checked strictly against this file`,
  ];
}

/** `strategy:` and `backup:`, and the commented `groups:` that ends the file. */
export function rolloutLines(settings: Pick<StarterSettings, 'serial' | 'backupDir'>): string[] {
  return [
    '# How the upgrade rolls: serial hosts are out of service at once.',
    'strategy:',
    `  serial: ${q(settings.serial)}                   # a count, or a share of the hosts such as "25%"`,
    '  max_fail_percentage: 0      # stop starting batches after the first failed host',
    '',
    "# Where each host's items are saved before its memcached restarts: on the controller,",
    '# files 0600 in a 0700 folder (a folder others can write to is refused).',
    'backup:',
    `  dir: ${q(settings.backupDir)}`,
    '  # keep: { count: 3, max_age: "30d" }   # default: the newest 3 per host; unrestored ones always stay',
  ];
}

export const groupsHint = [
  '# Named sets of hosts for --limit, e.g. east: [cache1, cache2].',
  '# groups:',
  '#   east: [cache1]',
];

export function renderStarterPlaybook(
  settings: StarterSettings,
  schemaRef: string,
  createdAt: string,
): string {
  const user =
    settings.user === undefined
      ? '    # user: deploy              # default: the user running memplay'
      : `    user: ${q(settings.user)}`;
  const service =
    settings.service === undefined
      ? '    # service: { manager: systemd, unit: memcached.service }   # default: memplay starts it with a pidfile'
      : `    service: ${flowMapping(settings.service)}`;
  const hosts = settings.hosts.flatMap((host) => [`  ${q(host.name)}:`, `    address: ${q(host.address)}`]);
  return [
    ...headerLines(schemaRef, `# A memplay playbook, started by \`memplay init\` on ${createdAt}.`),
    '',
    ...targetLines(settings),
    '',
    "# What every host inherits. A host's own keys win, key by key; lists are replaced.",
    'defaults:',
    '  ssh:',
    user,
    `    port: ${settings.sshPort}`,
    ...sshFileLines(settings),
    '  memcached:',
    `    port: ${settings.port}                 # the port memcached serves; backups go through SSH to it`,
    `    prefix: ${q(settings.prefix)}   # builds go to <prefix>/<version>; <prefix>/current links the live one`,
    '    # What the new build is started with (the port comes from port above): make these the',
    '    # arguments your memcached runs with now. Listening on loopback only is the safe start.',
    '    # memplay init --from-running HOST… reads them from the memcached each host runs.',
    '    args: ["-l", "127.0.0.1", "-m", "1024"]',
    service,
    '  # become: true                # run systemctl through sudo',
    '',
    ...rolloutLines(settings),
    '',
    '# The hosts, in the order they are upgraded. A name is what reports and --limit use.',
    'hosts:',
    ...hosts,
    '',
    ...groupsHint,
    '',
  ].join('\n');
}
