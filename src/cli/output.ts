import { UsageError } from '../errors.js';
import { stampEvent } from '../report/envelope.js';
import type { ViewChoice } from '../report/fleet-view.js';

// One --output vocabulary for every command that reports: `pretty` and `plain`
// for people, `json` for programs (JSON lines, each stamped with the run's id,
// its time and the contract's version: schemas/events.schema.json).

export type OutputMode = 'pretty' | 'plain' | 'json';

export function parseOutput(value: string): OutputMode {
  if (value === 'pretty' || value === 'plain' || value === 'json') return value;
  throw new UsageError(`--output must be pretty, plain or json, got "${value}"`);
}

/**
 * `--view`, beside --output rather than a new --output value, so `pretty` and `plain`
 * keep meaning what they always did: which of their views a run's hosts are shown in.
 */
export function parseView(value: string): ViewChoice {
  if (value === 'auto' || value === 'batches' || value === 'hosts') return value;
  throw new UsageError(`--view must be auto, batches or hosts, got "${value}"`);
}

/**
 * The --output a command line asks for, read from the raw arguments: a mistake the
 * option parser itself stops on must still be answered in JSON when JSON was asked for.
 */
export function requestedOutput(args: readonly string[]): string | undefined {
  let requested: string | undefined;
  for (const [index, arg] of args.entries()) {
    if (arg === '--') break;
    if (arg === '-o' || arg === '--output') requested = args[index + 1];
    else if (arg.startsWith('--output=')) requested = arg.slice('--output='.length);
    else if (/^-o[^-]/.test(arg)) requested = arg.slice(2);
  }
  return requested;
}

/** Writes one event as a JSON line on stdout, stamped for the run `runId`. */
export function printJsonEvent(event: { readonly event: string }, runId: string): void {
  process.stdout.write(`${JSON.stringify(stampEvent(event, runId))}\n`);
}
