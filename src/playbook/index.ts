// The playbook's public API: read, check and resolve a playbook file, and pick hosts.
import { resolve } from 'node:path';
import { type Diagnostic, PlaybookError } from '../errors.js';
import { authVariableProblems } from './auth-variables.js';
import { backupDirProblems } from './backup-dir.js';
import { identityFileProblems } from './identity-files.js';
import { loadPlaybookSource } from './load.js';
import { controllerEnvironment, type PlaybookDocument, resolvePlaybook, selectHosts } from './resolve.js';
import type { PlaybookSource } from './source.js';
import { sourceTarballProblems } from './source-tarball-check.js';
import { loadSshConfigs } from './ssh-config-files.js';
import type { HostConfig, Playbook } from './types.js';
import { checkPlaybook, orderDiagnostics } from './validate.js';

export { selectHosts } from './resolve.js';
export { playbookSchema } from './schema.js';
export type { HostConfig, Playbook } from './types.js';

/** Every problem of a playbook file, in file order; empty when it is valid. */
export async function validatePlaybookFile(file: string): Promise<Diagnostic[]> {
  const loaded = await loadPlaybookSource(file);
  const checked = loaded.source ? checkPlaybook(loaded.source) : [];
  const problems = [...loaded.diagnostics, ...checked];
  if (loaded.source && problems.length === 0) {
    // A tarball that is here must be the one the playbook pins; one that is not
    // may live only on the machine that runs apply.
    const playbook = resolvePlaybook(loaded.source.data() as PlaybookDocument, resolve(file));
    problems.push(...(await sourceTarballProblems(loaded.source, playbook)));
  }
  return orderDiagnostics(problems);
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
  const { source, playbook } = await loadValidPlaybook(file);
  const hosts = selectHosts(playbook, limit);
  const problems = [
    ...(await identityFileProblems(source, hosts)),
    ...(await backupDirProblems(source, playbook)),
    ...(await authVariableProblems(source, hosts)),
    // An upgrade's tarball, when it is here: a missing one is build's to report (a
    // re-run with every host built needs none).
    ...(options.checkSource ? await sourceTarballProblems(source, playbook) : []),
  ];
  if (problems.length > 0) throw new PlaybookError(orderDiagnostics(problems));
  return { playbook, hosts };
}

async function loadValidPlaybook(file: string): Promise<{ source: PlaybookSource; playbook: Playbook }> {
  const loaded = await loadPlaybookSource(file);
  const diagnostics = orderDiagnostics([
    ...loaded.diagnostics,
    ...(loaded.source ? checkPlaybook(loaded.source) : []),
  ]);
  if (!loaded.source || diagnostics.length > 0) throw new PlaybookError(diagnostics);
  const document = loaded.source.data() as PlaybookDocument;
  const environment = controllerEnvironment();
  // ~/.ssh/config (or ssh.config_file) is read here, once, so resolving stays pure.
  const ssh = await loadSshConfigs(loaded.source, document, resolve(file), environment);
  if (ssh.problems.length > 0) throw new PlaybookError(orderDiagnostics(ssh.problems));
  const resolved = resolvePlaybook(document, resolve(file), { ...environment, sshConfigs: ssh.configs });
  const { source } = loaded;
  const playbook = { ...resolved, hosts: resolved.hosts.map((host) => withOrigins(source, host)) };
  return { source, playbook };
}

/** The host's `memcached` setting at `key`, where the host's own entry or `defaults` wrote it. */
function originOf(source: PlaybookSource, host: string, key: string): string | undefined {
  for (const path of [
    ['hosts', host, 'memcached', key],
    ['defaults', 'memcached', key],
  ]) {
    if (source.nodeAt(path) === undefined) continue;
    const { file, line, col } = source.diagnostic(path, '');
    return `${file}:${line}:${col}`;
  }
  return undefined;
}

function withOrigins(source: PlaybookSource, host: HostConfig): HostConfig {
  const port = originOf(source, host.name, 'port');
  const args = originOf(source, host.name, 'args');
  if (port === undefined && args === undefined) return host;
  return { ...host, origins: { ...(port && { port }), ...(args && { args }) } };
}
