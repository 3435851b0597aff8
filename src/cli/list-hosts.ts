import { instancesApart, splitIntoBatches } from '../engine/batches.js';
import { pipelineFor } from '../engine/pipeline.js';
import { loadPlaybook, selectHosts } from '../playbook/index.js';
import { formatHostList, type HostList, hostListEvent } from '../report/host-list.js';
import type { Job } from '../tasks/task.js';
import { ExitCode } from './exit-codes.js';
import { printJsonEvent } from './output.js';

/**
 * `--list-hosts`: the hosts the playbook and --limit select, in batch order, and
 * nothing else. Nothing is connected to, and no file is written or created (the
 * backup folder included). `job` absent: `facts`, which asks every host at once.
 */
export async function listHostsCommand(
  file: string,
  options: {
    readonly job?: Job;
    readonly limit?: string;
    readonly json: boolean;
    /** The JSON line carries it as `run_id`. */
    readonly runId: string;
  },
): Promise<ExitCode> {
  const playbook = await loadPlaybook(file);
  const hosts = selectHosts(playbook, options.limit);
  const names = hosts.map((host) => host.name);
  const pipeline = options.job ? await pipelineFor(options.job, playbook) : undefined;
  const rolling = pipeline?.phases.some((phase) => phase.batches === 'serial') ?? false;
  const list: HostList = {
    playbook: playbook.file,
    hosts: names,
    // Before connecting nobody knows which hosts are on target already: apply would take those first.
    batches: rolling
      ? splitIntoBatches(names, playbook.strategy.serial, instancesApart(playbook.strategy, hosts))
      : [names],
    rolling,
  };
  if (options.json) printJsonEvent(hostListEvent(list), options.runId);
  else for (const line of formatHostList(list)) process.stdout.write(`${line}\n`);
  return ExitCode.ok;
}
