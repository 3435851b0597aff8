import type { Diagnostic } from '../errors.js';
import { isSecretVariable, minimumSecretLength } from './secret-keys.js';
import type { PlaybookSource } from './source.js';
import type { HostConfig } from './types.js';

// Secrets are redacted from every output by their value, and a value of a character
// or two cannot be: it would be taken out of every version number and count it
// appears in, and what is left would give it away. Such a value is refused before any
// host is contacted, naming the variable (never the value). memcached.auth's
// password_env is checked where it is named (auth-variables.ts).

/** One diagnostic per secret variable set shorter than minimumSecretLength. */
export function shortSecretProblems(
  source: PlaybookSource,
  hosts: readonly HostConfig[],
  environment: NodeJS.ProcessEnv = process.env,
): Diagnostic[] {
  const problems: Diagnostic[] = [];
  for (const [variable, value] of Object.entries(environment)) {
    if (!isSecretVariable(variable) || value === undefined || value === '') continue;
    if (value.length >= minimumSecretLength) continue;
    problems.push(
      source.diagnostic(
        placeOf(source, hosts, variable),
        `the environment variable ${variable} holds a secret of ${value.length} character` +
          `${value.length === 1 ? '' : 's'}, shorter than the ${minimumSecretLength} memplay can keep out of ` +
          `its output; set a longer one (or unset ${variable}) before running memplay`,
      ),
    );
  }
  return problems;
}

// The setting the variable serves, when the playbook has one; else the top of the file.
function placeOf(source: PlaybookSource, hosts: readonly HostConfig[], variable: string): string[] {
  const candidates =
    variable === 'MEMPLAY_BECOME_PASSWORD'
      ? [['defaults', 'become'], ...hosts.map((host) => ['hosts', host.name, 'become'])]
      : variable === 'MEMPLAY_SSH_PASSPHRASE'
        ? [
            ['defaults', 'ssh', 'identity_file'],
            ...hosts.map((host) => ['hosts', host.name, 'ssh', 'identity_file']),
          ]
        : [];
  return candidates.find((path) => source.nodeAt(path) !== undefined) ?? ['name'];
}
