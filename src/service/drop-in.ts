import type { HostConfig } from '../playbook/types.js';
import { type ShellCommand, sh } from '../transport/quote.js';

// Under `manager: systemd` the unit, not memplay, starts memcached. What makes
// a swap take effect is a drop-in that points the unit's ExecStart at
// `<prefix>/current/bin/memcached`: repointing `current` and restarting the
// unit then starts the new build (and a rollback, repointing it back, the old).

/**
 * One argument for an ExecStart= line. systemd splits the line itself (no
 * shell): double quotes keep spaces, `\` escapes, and it expands `%` specifiers
 * and `$VAR` — doubled here so a value reaches memcached as written.
 */
export function systemdWord(word: string): string {
  const escaped = word
    .replaceAll('\\', '\\\\')
    .replaceAll('"', '\\"')
    .replaceAll('%', '%%')
    .replaceAll('$', '$$$$');
  return `"${escaped}"`;
}

/** The command line the unit runs: the build `current` names, in the foreground, with the playbook's port and args. */
export function unitCommandLine(host: HostConfig): string[] {
  return [
    `${host.memcached.prefix}/current/bin/memcached`,
    '-p',
    String(host.memcached.port),
    ...host.memcached.args,
  ];
}

/** The drop-in's text: ExecStart cleared (a drop-in adds to a list otherwise), then set. */
export function dropInText(host: HostConfig): string {
  return [
    '# Written by memplay: the unit runs the memcached build <prefix>/current names.',
    '# memplay rewrites this file when the playbook changes it; edit the playbook, not this file.',
    '[Service]',
    'Type=exec',
    'ExecStart=',
    `ExecStart=${unitCommandLine(host).map(systemdWord).join(' ')}`,
    '',
  ].join('\n');
}

/** Prints the drop-in's text, or nothing (exit 0) when there is none. Read-only. */
export function readDropInCommand(path: string): ShellCommand {
  return sh`cat -- ${path} 2>/dev/null || true`;
}

// Written beside itself and renamed, so systemd never reads half a file; then
// daemon-reload, or systemd keeps the old ExecStart. One script, so one sudo
// (which reads the password from stdin once) covers both.
const installScript = `
path=$1; text=$2
mkdir -p -- "$(dirname -- "$path")" &&
printf '%s' "$text" > "$path.memplay-new" &&
chmod 644 -- "$path.memplay-new" &&
mv -f -- "$path.memplay-new" "$path" &&
systemctl daemon-reload
`;

/** Writes the drop-in and reloads systemd; run privileged (it usually lives under /etc). */
export function installDropInCommand(path: string, text: string): ShellCommand {
  return sh`sh -c ${installScript} memplay-drop-in ${path} ${text}`;
}

// The same one sudo for both: the file gone, then daemon-reload so the unit's
// own ExecStart (the package's) is what the next start runs.
const removeScript = `
path=$1
rm -f -- "$path" &&
systemctl daemon-reload
`;

/** Removes the drop-in and reloads systemd; run privileged. Removing an absent one succeeds. */
export function removeDropInCommand(path: string): ShellCommand {
  return sh`sh -c ${removeScript} memplay-drop-in ${path}`;
}
