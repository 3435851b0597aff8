import { gatherFleetFacts } from '../engine/fleet-facts.js';
import { hostAsRun } from '../facts/carried-args.js';
import { memcachedTransport } from '../facts/memcached-transport.js';
import { runningInstanceProblem } from '../facts/running-instance.js';
import { loadPlaybookForRun } from '../playbook/index.js';
import type { RunEvent } from '../report/events.js';
import { factsEvent, formatFactsTable } from '../report/facts-view.js';
import { hostKeyAcceptedLine, plainRenderer } from '../report/plain.js';
import { ExitCode } from './exit-codes.js';
import { parseOutput, printJsonEvent } from './output.js';
import { connector } from './run-job.js';

export type FactsOutput = 'table' | 'json';

export interface FactsOptions {
  readonly limit?: string;
  readonly forks: number;
  readonly output: FactsOutput;
  readonly verbose: boolean;
  readonly acceptNewHostKeys: boolean;
  /** Every JSON line carries it as `run_id`. */
  readonly runId: string;
}

/** `pretty` and `plain`, which every other command takes, mean the table here; `table` is kept as their alias. */
export function parseFactsOutput(value: string): FactsOutput {
  if (value === 'table') return 'table';
  return parseOutput(value) === 'json' ? 'json' : 'table';
}

/** Connects to the selected hosts, reads their facts and memcached stats, changes nothing. */
export async function factsCommand(file: string, options: FactsOptions): Promise<ExitCode> {
  // Bad input never contacts a host: the playbook and --limit are checked first.
  const { playbook, hosts } = await loadPlaybookForRun(file, options.limit);
  const writeLine = (line: string) => process.stdout.write(`${line}\n`);
  const verboseLines = plainRenderer((line) => process.stderr.write(`${line}\n`), true);
  const sink = (event: RunEvent) => {
    if (event.event === 'command' && options.verbose) verboseLines(event);
    if (event.event === 'host-key-accepted') {
      if (options.output === 'json') printJsonEvent(event, options.runId);
      else process.stderr.write(`${hostKeyAcceptedLine(event)}\n`);
    }
  };
  const connections = connector(options, sink);
  const rows = await gatherFleetFacts(hosts, {
    forks: options.forks,
    connect: async (host) => memcachedTransport(await connections.open(host), host),
    problemOf: (host, facts) =>
      // A package host without memcached.args is judged with the arguments a run would carry over.
      runningInstanceProblem(hostAsRun(host, facts), facts, {
        startsVersion: playbook.target.version,
        acceptSettings: playbook.verify.acceptSettings,
      }),
  }).finally(() => connections.close());
  if (options.output === 'json') for (const row of rows) printJsonEvent(factsEvent(row), options.runId);
  else writeLine(formatFactsTable(rows));
  return rows.every((row) => row.reachable) ? ExitCode.ok : ExitCode.hostUnreachable;
}
