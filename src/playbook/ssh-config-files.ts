import type { Diagnostic } from '../errors.js';
import { loadSshConfig, type SshConfigFile } from '../transport/ssh-config.js';
import type { ControllerEnvironment, PlaybookDocument } from './resolve.js';
import { sshConfigPaths } from './resolve.js';
import type { PlaybookSource } from './source.js';

// The ssh configs the hosts read are controller files, like identity_file: one that
// was asked for by name (ssh.config_file or $MEMPLAY_SSH_CONFIG) and cannot be read is
// a mistake reported before any host is contacted; the default ~/.ssh/config may be absent.

/** Reads each ssh config the playbook's hosts use once; problems point at the setting naming it. */
export async function loadSshConfigs(
  source: PlaybookSource,
  document: PlaybookDocument,
  file: string,
  environment: ControllerEnvironment,
): Promise<{ configs: Map<string, SshConfigFile>; problems: Diagnostic[] }> {
  const configs = new Map<string, SshConfigFile>();
  const problems: Diagnostic[] = [];
  const usersByPath = new Map<string, string[]>();
  for (const [host, path] of sshConfigPaths(document, file, environment)) {
    if (path === undefined) continue;
    usersByPath.set(path, [...(usersByPath.get(path) ?? []), host]);
  }
  for (const [path, hosts] of usersByPath) {
    const setting = settingPath(source, hosts[0] as string);
    const named = setting !== undefined || environment.sshConfigFile !== undefined;
    const where = setting
      ? `${setting.slice(0, -1).join('.')}.config_file`
      : named
        ? `MEMPLAY_SSH_CONFIG=${environment.sshConfigFile}`
        : 'the default ssh config';
    // A host only the hosts_from inventory lists has no line of its own in the playbook.
    const listed = source.nodeAt(['hosts', hosts[0] as string]) !== undefined;
    const at = setting ?? (listed ? ['hosts', hosts[0] as string, 'address'] : ['hosts_from']);
    try {
      const config = await loadSshConfig(path, environment.homeDir);
      if (config.missing && named) {
        problems.push(
          source.diagnostic(
            at,
            `${where}: ${path} does not exist, needed to resolve ${hosts.join(', ')}; give the path of an ` +
              'OpenSSH client config, or none to read no config',
          ),
        );
      }
      configs.set(path, config);
    } catch (error) {
      problems.push(
        source.diagnostic(
          at,
          `${where}: cannot read ssh config ${path} (${(error as Error).message}), needed to resolve ` +
            `${hosts.join(', ')}; fix the file, or set ssh.config_file: none`,
        ),
      );
    }
  }
  return { configs, problems };
}

function settingPath(source: PlaybookSource, host: string): string[] | undefined {
  const own = ['hosts', host, 'ssh', 'config_file'];
  if (source.nodeAt(own)) return own;
  const shared = ['defaults', 'ssh', 'config_file'];
  return source.nodeAt(shared) ? shared : undefined;
}

/**
 * Collects the ssh config values hosts would use and memplay refuses, as diagnostics at the
 * setting that names the config (or the host's address): one per host and message.
 */
export function sshConfigValueProblems(source: PlaybookSource): {
  report: (host: string, message: string) => void;
  problems: Diagnostic[];
} {
  const problems: Diagnostic[] = [];
  const seen = new Set<string>();
  const report = (host: string, message: string) => {
    if (seen.has(`${host}\u0000${message}`)) return;
    seen.add(`${host}\u0000${message}`);
    const setting = settingPath(source, host);
    const listed = source.nodeAt(['hosts', host]) !== undefined;
    const at = setting ?? (listed ? ['hosts', host, 'address'] : ['hosts_from']);
    problems.push(
      source.diagnostic(
        at,
        `hosts.${host}: ssh config ${message}; fix the config, or set the value in the playbook's ssh settings`,
      ),
    );
  };
  return { report, problems };
}
