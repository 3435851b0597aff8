import { instancesApart, splitIntoBatches } from '../engine/batches.js';
import { openJournal } from '../engine/journal.js';
import { type Pipeline, pipelineFor } from '../engine/pipeline.js';
import { runPipeline } from '../engine/run.js';
import { UsageError } from '../errors.js';
import { memcachedTransport } from '../facts/memcached-transport.js';
import { type HostConfig, loadPlaybookForRun, type Playbook } from '../playbook/index.js';
import { batchLinesRenderer } from '../report/batch-renderer.js';
import type { PhaseTasks } from '../report/batch-view.js';
import { type Stamped, stampEvent } from '../report/envelope.js';
import type { BatchPosition, EventSink, RunEvent } from '../report/events.js';
import type { ViewChoice } from '../report/fleet-view.js';
import { jsonRenderer } from '../report/json.js';
import { plainRenderer } from '../report/plain.js';
import { prettyRenderer } from '../report/pretty.js';
import { type Redaction, redaction, secretsIn } from '../report/redact.js';
import { defaultLogRoot, openRunLog } from '../report/run-log.js';
import type { Job } from '../tasks/task.js';
import { type Connector, createConnector } from '../transport/connect.js';
import { memplayVersion } from '../version.js';
import { askOnTerminal, questionLine } from './batch-question.js';
import { ExitCode, exitCodeForRecap } from './exit-codes.js';
import type { OutputMode } from './output.js';
import { checkRestoreSource } from './restore-source.js';

export interface RunJobOptions {
  readonly check: boolean;
  readonly limit?: string;
  readonly forks: number;
  readonly output?: OutputMode;
  /** `--view`: the batch view or a line per host, for pretty and plain output; auto when not given. */
  readonly view?: ViewChoice;
  readonly verbose: boolean;
  /** Trust hosts whose key is not in known_hosts yet, and record their key there. */
  readonly acceptNewHostKeys: boolean;
  /** Where run logs go (`--log-dir`); else $MEMPLAY_LOG_DIR, else `.memplay/runs`. */
  readonly logDir?: string;
  /** `--yes`: strategy.confirm_between_batches' questions are answered yes without asking. */
  readonly yes?: boolean;
  /** This run's id: every event carries it as `run_id`, and the journal as `run`. */
  readonly runId: string;
}

export function parseForks(value: string): number {
  // Digits only: Number() also reads 0x10, 1e3 and " 7 ", which nobody means as a count.
  const forks = /^[0-9]+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(forks) || forks < 1 || forks > 10_000) {
    throw new UsageError(`--forks must be a whole number from 1 to 10000, got "${value}"`);
  }
  return forks;
}

interface View {
  readonly sink: (event: Stamped<RunEvent>) => void;
  finished(): Promise<void>;
  /** Shows the question before a batch with what is typed so far; undefined: it is answered. */
  question(position: BatchPosition, typed: string | undefined): void;
  /** Says something to the user now (the interrupt's notice): on stderr, or above the batch view's live lines. */
  say(text: string): void;
}

function renderer(mode: OutputMode, verbose: boolean, view: ViewChoice, phases: PhaseTasks): View {
  const writeLine = (line: string) => process.stdout.write(`${line}\n`);
  // Plain and JSON lines go to stdout, maybe to a file: the question goes to the terminal's stderr.
  const sayOnStderr = (text: string) => process.stderr.write(`\n${text}\n`);
  const questionOnStderr = (position: BatchPosition, typed: string | undefined) =>
    process.stderr.write(typed === undefined ? '\n' : `\r\u001b[2K${questionLine(position)}${typed}`);
  if (mode === 'json') {
    return {
      sink: jsonRenderer(writeLine, verbose),
      finished: async () => {},
      question: questionOnStderr,
      say: sayOnStderr,
    };
  }
  if (mode === 'plain') {
    // A log keeps its line per result unless the batch view is asked for: scripts may read those lines.
    const sink =
      view === 'batches'
        ? batchLinesRenderer(writeLine, { phases, verbose })
        : plainRenderer(writeLine, verbose);
    return { sink, finished: async () => {}, question: questionOnStderr, say: sayOnStderr };
  }
  const pretty = prettyRenderer(
    (text) => process.stdout.write(text),
    { rows: process.stdout.rows, columns: process.stdout.columns },
    { view, phases },
  );
  // -v commands are printed plainly on stderr so they do not tear the live view.
  const verboseLines = plainRenderer((line) => process.stderr.write(`${line}\n`), true);
  return {
    sink: (event: RunEvent) => {
      pretty.handle(event);
      if (verbose && event.event === 'command') verboseLines(event);
    },
    finished: pretty.finished,
    // listr2 holds stdout and stderr while it draws: the question is drawn in the live view.
    question: (position, typed) =>
      pretty.note(position.hosts, typed === undefined ? undefined : `${questionLine(position)}${typed}`),
    say: (text) => {
      if (!pretty.say(text)) sayOnStderr(text);
    },
  };
}

/**
 * strategy.confirm_between_batches needs someone to answer, before anything starts:
 * off a terminal, without --yes, the run is refused while no host has been contacted.
 */
function checkSomeoneAnswers(
  playbook: Playbook,
  hosts: readonly HostConfig[],
  pipeline: Pipeline,
  options: RunJobOptions,
  canAsk: boolean,
): void {
  if (options.check || options.yes || canAsk || !playbook.strategy.confirmBetweenBatches) return;
  const rolling = pipeline.phases.some((phase) => phase.batches === 'serial');
  // However many hosts turn out to be on target already, there are at most this many batches.
  const apart = instancesApart(playbook.strategy, hosts);
  const names = hosts.map((host) => host.name);
  if (!rolling || splitIntoBatches(names, playbook.strategy.serial, apart).length < 2) return;
  throw new UsageError(
    'strategy.confirm_between_batches asks before each batch after the first, and stdin is not a terminal to ask on: ' +
      'run memplay from a terminal, or add --yes to start every batch without asking; no host was contacted',
  );
}

/** How every command opens a host: its host-key policy, with accepted keys and -v commands as events. */
/**
 * One per run: hosts behind the same bastion share its login until `close`.
 * Host-key acceptances and (for -v and the run log) every command become events.
 */
export function connector(options: { readonly acceptNewHostKeys: boolean }, sink: EventSink): Connector {
  return createConnector({
    acceptNewHostKeys: options.acceptNewHostKeys,
    onHostKeyAccepted: (accepted) =>
      sink({
        event: 'host-key-accepted',
        host: accepted.host,
        name: accepted.name,
        known_hosts: accepted.knownHostsFile,
        key_type: accepted.keyType,
        fingerprint: accepted.fingerprint,
      }),
    onLegacyAlgorithms: (warning) =>
      sink({
        event: 'ssh-legacy-algorithms',
        host: warning.host,
        ...(warning.via !== undefined && { via: warning.via }),
        offered: warning.offered,
        in_use: warning.inUse,
      }),
    onCommand: (c) =>
      sink({
        event: 'command',
        host: c.host,
        command: c.command,
        code: c.code,
        duration_ms: c.durationMs,
        stdout: c.stdout,
        stderr: c.stderr,
      }),
  });
}

/** The secrets of this run: memplay's own variables and every variable the hosts' playbook settings name. */
export function runRedaction(hosts: readonly HostConfig[], env: NodeJS.ProcessEnv = process.env): Redaction {
  const named = hosts.flatMap((host) => (host.memcached.auth ? [host.memcached.auth.passwordVariable] : []));
  return redaction(secretsIn(env, named));
}

/** Loads the playbook, runs the built-in pipeline for the job on the selected hosts, renders it. */
export async function runJob(file: string, job: Job, options: RunJobOptions): Promise<ExitCode> {
  // Every check of the user's input comes before the first connection: bad input never contacts a host.
  const { playbook, hosts } = await loadPlaybookForRun(file, options.limit, {
    checkSource: job.kind === 'upgrade',
  });
  if (job.kind === 'restore') {
    await checkRestoreSource(
      job.from,
      hosts.map((host) => host.name),
      job.trustBackup === true,
    );
  }
  const pipeline = await pipelineFor(job, playbook);
  // A terminal that reports no width (some CI runners, script(1)) cannot hold a live view.
  const live = process.stdout.isTTY && (process.stdout.columns ?? 0) > 0;
  const mode = options.output ?? (live ? 'pretty' : 'plain');
  // The answer is typed on stdin; the question is drawn in the live view, or on stderr.
  const canAsk = process.stdin.isTTY === true && (mode === 'pretty' || process.stderr.isTTY === true);
  checkSomeoneAnswers(playbook, hosts, pipeline, options, canAsk);
  const phases: PhaseTasks = new Map(
    pipeline.phases.map((phase) => [phase.name, phase.tasks.map((task) => task.name)]),
  );
  const view = renderer(mode, options.verbose, options.view ?? 'auto', phases);
  const runLog = openRunLog(options.logDir ?? (process.env.MEMPLAY_LOG_DIR || defaultLogRoot), (message) =>
    process.stderr.write(`${message}\n`),
  );
  // One redaction for every sink: each event is redacted once, here, before any view or
  // the log sees it, and the journal writes through the same one.
  const redact = runRedaction(hosts);
  const emit: EventSink = (raw) => {
    const event = stampEvent(redact.event(raw), options.runId);
    runLog?.record(event);
    view.sink(event);
  };

  // --check writes nothing anywhere, the journal included.
  const journal = options.check ? undefined : openJournal(playbook.backup.dir, options.runId, redact.value);
  const interrupt = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts += 1;
    if (interrupts > 1) process.exit(ExitCode.interrupted);
    view.say(
      'interrupt: finishing the running steps (and the restore of a host already swapped), starting nothing new (Ctrl-C again to quit now)',
    );
    interrupt.abort();
  };
  process.on('SIGINT', onSigint);
  // What systemd, timeout(1) and CI runners send: the same orderly stop as Ctrl-C.
  process.on('SIGTERM', onSigint);
  // One per run: hosts behind the same bastion share its login, closed once the run is over.
  const connections = connector(options, emit);
  try {
    const result = await runPipeline(playbook, hosts, pipeline, {
      job,
      check: options.check,
      forks: options.forks,
      emit,
      signal: interrupt.signal,
      ...(journal ? { journal } : {}),
      ...(runLog ? { runLog: runLog.dir } : {}),
      memplayVersion,
      assumeYes: options.yes === true,
      ...(canAsk && {
        confirmBatch: (position: BatchPosition) =>
          askOnTerminal({
            input: process.stdin,
            show: (typed) => view.question(position, typed),
            signal: interrupt.signal,
            interrupt: onSigint,
          }),
      }),
      connect: async (host) => memcachedTransport(await connections.open(host), host),
    });
    await view.finished();
    return exitCodeForRecap(result.recap, result.interrupted);
  } finally {
    await connections.close();
    journal?.close();
    runLog?.close();
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}
