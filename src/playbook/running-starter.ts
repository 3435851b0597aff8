import type { FleetLayout, HostSettings, RunningHost } from './from-running.js';
import { shownArg } from './from-running.js';
import {
  flowMapping,
  groupsHint,
  headerLines,
  q,
  rolloutLines,
  type StarterSettings,
  sshFileLines,
  targetLines,
} from './starter.js';

// The playbook `memplay init --from-running` writes: the starter's sections, with
// `defaults` holding what every host runs alike and each host what is its own.
// Values are JSON scalars and comments have their line breaks taken out, so
// nothing read from a host can change the file's structure; `memplay init`
// validates the text before it keeps it.

export type RunningPlaybookSettings = Pick<
  StarterSettings,
  'name' | 'version' | 'source' | 'sha256' | 'serial' | 'backupDir' | 'identityFile' | 'knownHosts'
>;

const commentWidth = 100;

/** `text` as comment lines at `indent`, wrapped at word boundaries; control characters cannot end the comment. */
export function commentLines(text: string, indent: string): string[] {
  // YAML ends a comment at a line break; NEL (a C1 control), U+2028 and U+2029 were line breaks in YAML 1.1.
  const clean = [...text]
    .map((c) => {
      const code = c.charCodeAt(0);
      return code <= 0x1f || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029 ? '?' : c;
    })
    .join('');
  const lines: string[] = [];
  let line = '';
  for (const word of clean.split(' ')) {
    if (line !== '' && indent.length + 2 + line.length + 1 + word.length > commentWidth) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines.map((l, i) => `${indent}#${i === 0 ? ' ' : '   '}${l}`.trimEnd());
}

const argsComment =
  'as memcached runs now, less what memplay adds when it starts it (-d, -P <pidfile>, -p <port>)';

/** The `ssh:`, `memcached:` and `become:` keys of a host entry or of `defaults`, at `indent`. */
function settingLines(settings: HostSettings, indent: string, sshExtra: readonly string[] = []): string[] {
  const inner = `${indent}  `;
  const ssh: string[] = [];
  if (settings['ssh.user'] !== undefined) ssh.push(`${inner}user: ${q(settings['ssh.user'])}`);
  if (settings['ssh.port'] !== undefined) ssh.push(`${inner}port: ${settings['ssh.port']}`);
  ssh.push(...sshExtra.filter((line) => !line.trimStart().startsWith('#')));
  const sshHints = sshExtra.filter((line) => line.trimStart().startsWith('#'));
  const memcached: string[] = [];
  if (settings['memcached.port'] !== undefined) memcached.push(`${inner}port: ${settings['memcached.port']}`);
  if (settings['memcached.prefix'] !== undefined) {
    memcached.push(
      `${inner}prefix: ${q(settings['memcached.prefix'])}   # builds go to <prefix>/<version>; <prefix>/current links the live one`,
    );
  }
  if (settings['memcached.args'] !== undefined) {
    memcached.push(`${inner}# The arguments ${argsComment}.`);
    memcached.push(`${inner}args: [${settings['memcached.args'].map((arg) => q(arg)).join(', ')}]`);
  }
  if (settings['memcached.service'] !== undefined) {
    memcached.push(`${inner}service: ${flowMapping(settings['memcached.service'])}`);
  }
  if (settings['memcached.auth'] !== undefined) {
    memcached.push(
      `${inner}auth: ${flowMapping(settings['memcached.auth'])}   # the variables that hold -Y's user and password`,
    );
  }
  return [
    ...(ssh.length > 0
      ? [`${indent}ssh:`, ...ssh, ...sshHints]
      : sshHints.map((l) => l.replace(/^ {2}/, ''))),
    ...(memcached.length > 0 ? [`${indent}memcached:`, ...memcached] : []),
    ...(settings.become
      ? [`${indent}become: true   # systemctl and the unit's drop-in need root: through sudo`]
      : []),
  ];
}

/** What memplay saw on the host, for whoever reads the file later. */
function foundLines(host: RunningHost, indent: string): string[] {
  const { found } = host;
  return [
    ...commentLines(
      `found pid ${found.pid}: memcached ${found.version ?? '(version unknown)'} at ${found.binary}`,
      indent,
    ),
    ...commentLines(
      `started as: ${found.commandLine.slice(1).map(shownArg).join(' ') || '(no arguments)'}`,
      indent,
    ),
  ];
}

export function renderRunningPlaybook(
  layout: FleetLayout,
  settings: RunningPlaybookSettings,
  schemaRef: string,
  createdAt: string,
): string {
  const defaults = settingLines(layout.defaults, '  ', sshFileLines(settings));
  const hasDefaults = defaults.some((line) => !line.trimStart().startsWith('#'));
  const hosts = layout.hosts.flatMap(({ host, own }) => [
    `  ${q(host.name)}:`,
    ...foundLines(host, '    '),
    ...host.found.warnings.flatMap((warning) => commentLines(`WARNING: ${warning}`, '    ')),
    `    address: ${q(host.address)}`,
    ...settingLines(own, '    '),
  ]);
  return [
    ...headerLines(
      schemaRef,
      `# A memplay playbook, written by \`memplay init --from-running\` on ${createdAt} from the memcached\n` +
        '# each host runs now: its port, arguments, install prefix and pidfile or unit.',
    ),
    '',
    ...targetLines(settings),
    '',
    "# What every host runs alike. A host's own keys win, key by key; lists are replaced.",
    ...(hasDefaults
      ? ['defaults:', ...defaults]
      : ['# defaults: nothing is the same on every host', ...defaults]),
    '',
    ...rolloutLines(settings),
    '',
    '# The hosts, in the order they are upgraded, each as memplay found it. A name is what reports and --limit use.',
    'hosts:',
    ...hosts,
    '',
    ...groupsHint,
    '',
  ].join('\n');
}
