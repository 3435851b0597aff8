// The playbook's public API: read, check and resolve a playbook file, and pick hosts.
import { resolve } from 'node:path';
import { type Diagnostic, PlaybookError } from '../errors.js';
import { authVariableProblems } from './auth-variables.js';
import { backupDirProblems } from './backup-dir.js';
import { loadHostsFrom, settingPlace, withInventory } from './hosts-from.js';
import { identityFileProblems } from './identity-files.js';
import type { Inventory } from './inventory.js';
import { selectHosts } from './limit.js';
import { loadPlaybookSource } from './load.js';
import { controllerEnvironment, resolvePlaybook } from './resolve.js';
import { playbookDocument } from './schema.js';
import { shortSecretProblems } from './secret-lengths.js';
import type { PlaybookSource } from './source.js';
import { sourceTarballProblems } from './source-tarball-check.js';
import { loadSshConfigs, sshConfigValueProblems } from './ssh-config-files.js';
import { tlsFileProblems } from './tls-files.js';
import type { HostConfig, Playbook } from './types.js';
import { checkPlaybook, orderDiagnostics } from './validate.js';

export { selectHosts } from './limit.js';
export { playbookSchema } from './schema.js';
export type { HostConfig, Playbook } from './types.js';

/** Every problem of a playbook file, in file order; empty when it is valid. */
export async function validatePlaybookFile(file: string): Promise<Diagnostic[]> {
  const { source, inventory, problems } = await readPlaybook(file);
  if (source && problems.length === 0) {
    // A tarball that is here must be the one the playbook pins; one that is not
    // may live only on the machine that runs apply.
    const document = withInventory(playbookDocument(source.data()), inventory);
    // The ssh configs are read as apply reads them, for the values a host would take from
    // them (a config that cannot be read is apply's to report: validate may run elsewhere).
    const environment = controllerEnvironment();
    const ssh = await loadSshConfigs(source, document, resolve(file), environment);
    const fromConfig = sshConfigValueProblems(source);
    const playbook = resolvePlaybook(document, resolve(file), {
      ...environment,
      sshConfigs: ssh.configs,
      onSshConfigProblem: fromConfig.report,
    });
    problems.push(...fromConfig.problems, ...(await sourceTarballProblems(source, playbook)));
  }
  return orderDiagnostics(problems);
}

/** The playbook file parsed and checked, with its hosts_from inventory read and checked too. */
async function readPlaybook(
  file: string,
): Promise<{ source?: PlaybookSource; inventory?: Inventory; problems: Diagnostic[] }> {
  const loaded = await loadPlaybookSource(file);
  if (!loaded.source) return { problems: [...loaded.diagnostics] };
  const { source } = loaded;
  const hostsFrom = await loadHostsFrom(source, resolve(file), controllerEnvironment().homeDir);
  const problems = orderDiagnostics([
    ...loaded.diagnostics,
    ...checkPlaybook(source, hostsFrom.inventory),
    ...hostsFrom.problems,
  ]);
  return { source, ...(hostsFrom.inventory && { inventory: hostsFrom.inventory }), problems };
}

/** The resolved playbook; throws PlaybookError carrying every problem when the file is not valid. */
export async function loadPlaybook(file: string): Promise<Playbook> {
  return (await loadValidPlaybook(file)).playbook;
}

/**
 * What a run needs before it contacts any host: the valid playbook, the hosts `--limit`
 * selects (UsageError if it selects none), the controller files those hosts log in
 * with and the backup folder (PlaybookError, pointing at the setting, when one cannot
 * be read or written).
 */
export async function loadPlaybookForRun(
  file: string,
  limit: string | undefined,
  options: { readonly checkSource: boolean } = { checkSource: false },
): Promise<{ playbook: Playbook; hosts: HostConfig[] }> {
  const { source, inventory, playbook } = await loadValidPlaybook(file);
  const hosts = selectHosts(playbook, limit);
  const problems = [
    ...(await identityFileProblems(source, hosts, inventory)),
    ...(await backupDirProblems(source, playbook, hosts)),
    ...(await authVariableProblems(source, hosts)),
    ...shortSecretProblems(source, hosts),
    ...(await tlsFileProblems(source, hosts)),
    // An upgrade's tarball, when it is here: a missing one is build's to report (a
    // re-run with every host built needs none).
    ...(options.checkSource ? await sourceTarballProblems(source, playbook) : []),
  ];
  if (problems.length > 0) throw new PlaybookError(orderDiagnostics(problems));
  return { playbook, hosts };
}

async function loadValidPlaybook(
  file: string,
): Promise<{ source: PlaybookSource; inventory?: Inventory; playbook: Playbook }> {
  const { source, inventory, problems } = await readPlaybook(file);
  if (!source || problems.length > 0) throw new PlaybookError(problems);
  const document = withInventory(playbookDocument(source.data()), inventory);
  const environment = controllerEnvironment();
  // ~/.ssh/config (or ssh.config_file) is read here, once, so resolving stays pure.
  const ssh = await loadSshConfigs(source, document, resolve(file), environment);
  if (ssh.problems.length > 0) throw new PlaybookError(orderDiagnostics(ssh.problems));
  const fromConfig = sshConfigValueProblems(source);
  const resolved = resolvePlaybook(document, resolve(file), {
    ...environment,
    sshConfigs: ssh.configs,
    onSshConfigProblem: fromConfig.report,
  });
  if (fromConfig.problems.length > 0) throw new PlaybookError(orderDiagnostics(fromConfig.problems));
  const playbook = {
    ...resolved,
    hosts: resolved.hosts.map((host) => withOrigins(source, inventory, host)),
  };
  return { source, ...(inventory && { inventory }), playbook };
}

/** The host's `memcached` setting at `key`, where its own entry, the inventory or `defaults` wrote it. */
function originOf(
  source: PlaybookSource,
  inventory: Inventory | undefined,
  host: string,
  key: string,
): string | undefined {
  const place = settingPlace(source, inventory, host, ['memcached', key]);
  if (place === undefined) return undefined;
  const { file, line, col } = place.kind === 'inventory' ? place.origin : source.diagnostic(place.path, '');
  return `${file}:${line}:${col}`;
}

function withOrigins(source: PlaybookSource, inventory: Inventory | undefined, host: HostConfig): HostConfig {
  const port = originOf(source, inventory, host.name, 'port');
  const args = originOf(source, inventory, host.name, 'args');
  if (port === undefined && args === undefined) return host;
  return { ...host, origins: { ...(port && { port }), ...(args && { args }) } };
}
