import { Command, CommanderError, Option } from 'commander';
import { newRunId } from '../report/envelope.js';
import type { Job } from '../tasks/task.js';
import { memplayVersion as version } from '../version.js';
import { backupsCommand, parseBackupsOutput } from './backups.js';
import { ExitCode, exitCodeForError } from './exit-codes.js';
import { factsCommand, parseFactsOutput } from './facts.js';
import { type InitFlags, initCommand } from './init.js';
import { listHostsCommand } from './list-hosts.js';
import { parseOutput, parseView, printJsonEvent, requestedOutput } from './output.js';
import { errorEvent, errorReport, usageErrorEvent } from './report-error.js';
import { parseForks, runJob } from './run-job.js';
import { schemaCommand } from './schema.js';
import { validateCommand } from './validate.js';

// Set from the subcommand's -v before its action runs: an internal error shows its stack only then.
let verbose = false;
// Whether the command that ran has -v at all: the bug report only suggests it where it exists.
let hasVerbose = true;
// One per invocation: every JSON line it prints carries it, an error's too.
const runId = newRunId();

function program(): Command {
  const cli = new Command('memplay')
    .description('Upgrade memcached fleets to a new version without losing their cached data.')
    .version(version, '-V, --version')
    .exitOverride()
    // The root's -V/--version only before a subcommand: `init --version 1.6.38` is init's.
    .enablePositionalOptions()
    .showHelpAfterError('(memplay --help lists the commands)')
    .hook('preAction', (_program, action) => {
      verbose = action.opts().verbose === true;
      hasVerbose = action.options.some((option) => option.long === '--verbose');
    });
  // A mistake in a subcommand's options is answered with that subcommand's help, not the list of commands.
  const subcommand = (name: string) =>
    cli.command(name).showHelpAfterError(`(memplay ${name} --help lists its arguments and options)`);

  interface JobFlags {
    check: boolean;
    limit?: string;
    forks: string;
    output?: string;
    view?: string;
    verbose: boolean;
    acceptNewHostKeys: boolean;
    from?: string;
    logDir?: string;
    listHosts: boolean;
    yes: boolean;
    trustBackup: boolean;
  }
  const listHostsHelp =
    'print the hosts the playbook and --limit select, in batch order, and exit without connecting';
  const jobCommand = (name: string, description: string) =>
    subcommand(name)
      .description(description)
      .argument('<file>', 'playbook (YAML)')
      .option('-C, --check', 'plan only: connect, run every read-only check, change nothing', false)
      .option(
        '-l, --limit <pattern>',
        'only these hosts: names, groups or globs, comma-separated; !name excludes',
      )
      .option('-f, --forks <n>', 'hosts worked on in parallel within a batch', '5')
      .addOption(
        new Option(
          '-o, --output <mode>',
          'pretty (live, TTY default), plain (one line per result), json (JSON lines)',
        ),
      )
      .option(
        '--view <view>',
        'pretty and plain: batches (a line per batch, failures as they happen), hosts (a line per host), auto (default: batches when a line per host does not fit the terminal)',
      )
      .option('-v, --verbose', 'show every remote command with its exit status and output', false)
      .option(
        '--accept-new-host-keys',
        'trust a host whose key is not in its known_hosts file yet and add the key there (a changed key is still refused)',
        false,
      )
      .option(
        '--log-dir <dir>',
        'where this run writes its log folder (default: $MEMPLAY_LOG_DIR, else .memplay/runs in the current directory)',
      )
      .option('--list-hosts', listHostsHelp, false)
      .option(
        '--yes',
        'answer yes to every question strategy.confirm_between_batches asks, without asking (needed off a terminal)',
        false,
      )
      .option(
        '--trust-backup',
        "restore a backup file memplay did not write (another user's, writable by others, or a link), which is refused without it",
        false,
      );
  const jobOptions = (opts: JobFlags) => ({
    check: opts.check,
    forks: parseForks(opts.forks),
    verbose: opts.verbose,
    acceptNewHostKeys: opts.acceptNewHostKeys,
    ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
    ...(opts.output !== undefined ? { output: parseOutput(opts.output) } : {}),
    ...(opts.view !== undefined ? { view: parseView(opts.view) } : {}),
    ...(opts.logDir !== undefined ? { logDir: opts.logDir } : {}),
    yes: opts.yes,
    runId,
  });
  const runOrList = (file: string, untrustedJob: Job, opts: JobFlags) => {
    const job: Job = opts.trustBackup ? { ...untrustedJob, trustBackup: true } : untrustedJob;
    // A bad --forks is refused with --list-hosts too, though listing forks nothing.
    parseForks(opts.forks);
    return opts.listHosts
      ? listHostsCommand(file, {
          job,
          json: opts.output !== undefined && parseOutput(opts.output) === 'json',
          ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
          runId,
        })
      : runJob(file, job, jobOptions(opts));
  };

  jobCommand(
    'apply',
    'upgrade the hosts of playbook FILE, carrying their cached items across (with --check: show what would change, change nothing)',
  ).action(async (file: string, opts: JobFlags) => {
    process.exitCode = await runOrList(file, { kind: 'upgrade' }, opts);
  });

  jobCommand(
    'rollback',
    'return each host to the build that ran before the last apply (<prefix>/previous), carrying its cached items across',
  ).action(async (file: string, opts: JobFlags) => {
    process.exitCode = await runOrList(file, { kind: 'rollback' }, opts);
  });

  jobCommand(
    'backup',
    "dump each host's cache to the playbook's backup.dir; the hosts are not changed",
  ).action(async (file: string, opts: JobFlags) => {
    process.exitCode = await runOrList(file, { kind: 'backup' }, opts);
  });

  jobCommand(
    'restore',
    "reload a backup into each host's running memcached (add mode: newer values are kept)",
  )
    .requiredOption(
      '--from <path>',
      'a backup file, or a backup folder holding <host>/*.mpbak (the newest is used)',
    )
    .action(async (file: string, opts: JobFlags) => {
      process.exitCode = await runOrList(file, { kind: 'restore', from: opts.from as string }, opts);
    });

  subcommand('facts')
    .description(
      'show each host: running version, installed builds, uptime, items, bytes, hit ratio, evictions, connections; changes nothing',
    )
    .argument('<file>', 'playbook (YAML)')
    .option(
      '-l, --limit <pattern>',
      'only these hosts: names, groups or globs, comma-separated; !name excludes',
    )
    .option('-f, --forks <n>', 'hosts asked in parallel', '5')
    .option(
      '-o, --output <mode>',
      'pretty or plain (a table, the default), json (one JSON object per host per line)',
      'pretty',
    )
    .option('-v, --verbose', 'show every remote command with its exit status and output', false)
    .option(
      '--accept-new-host-keys',
      'trust a host whose key is not in its known_hosts file yet and add the key there (a changed key is still refused)',
      false,
    )
    .option('--list-hosts', listHostsHelp, false)
    .action(
      async (
        file: string,
        opts: {
          limit?: string;
          forks: string;
          output: string;
          verbose: boolean;
          acceptNewHostKeys: boolean;
          listHosts: boolean;
        },
      ) => {
        if (opts.listHosts) {
          process.exitCode = await listHostsCommand(file, {
            json: parseFactsOutput(opts.output) === 'json',
            ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
            runId,
          });
          return;
        }
        process.exitCode = await factsCommand(file, {
          forks: parseForks(opts.forks),
          output: parseFactsOutput(opts.output),
          verbose: opts.verbose,
          acceptNewHostKeys: opts.acceptNewHostKeys,
          ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
          runId,
        });
      },
    );

  subcommand('backups')
    .description(
      "list each host's backups on this machine: file, created, version, items, size, restored, and whether backup.keep keeps it; contacts no host",
    )
    .argument('[file]', "playbook (YAML); without it, the hosts' folders in ./backups under the default keep")
    .option(
      '-l, --limit <pattern>',
      'only these hosts: names, groups or globs, comma-separated; !name excludes',
    )
    .option(
      '-o, --output <mode>',
      'pretty or plain (a table, the default), json (one JSON object per host per line)',
      'pretty',
    )
    .action(async (file: string | undefined, opts: { limit?: string; output: string }) => {
      process.exitCode = await backupsCommand(file, {
        output: parseBackupsOutput(opts.output),
        ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
        runId,
      });
    });

  subcommand('init')
    .description(
      'write a commented starter playbook to FILE (from the flags; on a terminal, asks for what they leave out); with --from-running, one that describes what the hosts run now',
    )
    .argument('[file]', 'where to write it', 'playbook.yml')
    .option('--hosts <list>', 'hosts, comma-separated: name, or name=address')
    .option(
      '--from-running <hosts...>',
      "log in to these hosts ([name=][user@]address[:sshport], or an ssh config alias; read-only) and write each one's running memcached: port, arguments, prefix, pidfile or unit",
    )
    .option('--version <version>', 'the memcached version to upgrade to, e.g. 1.6.38')
    .option(
      '--source <path|url>',
      'the tarball: a path on this machine or an http(s) URL (default: memcached.org)',
    )
    .option('--sha256 <hex>', "the tarball's sha256 (computed when --source is a local file)")
    .option('--user <name>', 'SSH user (default: yours); with --from-running, for hosts given without user@')
    .option(
      '--port <port>',
      'memcached port; with --from-running, which memcached to read where a host runs several',
      undefined,
    )
    .option('--ssh-port <port>', 'SSH port (default 22); with --from-running, for hosts given without :port')
    .option('--serial <n|%>', 'hosts out of service at once: a count or a percentage like 25% (default 1)')
    .option('--prefix <dir>', 'install prefix on the hosts (default /opt/memcached)')
    .option('--backup-dir <dir>', 'backup folder on this machine (default ./backups)')
    .option('--name <title>', 'the playbook name (default: upgrade to VERSION)')
    .option('--identity-file <path>', 'the private key memplay logs in with (default: ssh-agent)')
    .option(
      '--known-hosts <path>',
      'the known_hosts file host keys are checked against (default ~/.ssh/known_hosts)',
    )
    .option(
      '--pidfile <path>',
      "memcached's pidfile on the hosts; with --from-running, where its process is found",
    )
    .option(
      '--unit <name>',
      'the systemd unit that runs memcached; with --from-running, where its process is found',
    )
    .option(
      '--accept-new-host-keys',
      'with --from-running: trust a host whose key is not in its known_hosts file yet and add the key there (a changed key is still refused)',
      false,
    )
    .option(
      '-v, --verbose',
      'with --from-running: show every remote command with its exit status and output',
      false,
    )
    .option('--force', 'overwrite FILE if it exists', false)
    .action(async (file: string, opts: InitFlags) => {
      process.exitCode = await initCommand(file, opts);
    });

  subcommand('validate')
    .description('check FILE against the playbook schema and report every problem as FILE:LINE:COL')
    .argument('<file>', 'playbook (YAML)')
    .option(
      '-o, --output <mode>',
      'pretty or plain (FILE:LINE:COL lines, the default), json (one JSON object with every problem)',
      'plain',
    )
    .action(async (file: string, opts: { output: string }) => {
      process.exitCode = await validateCommand(file, { output: parseOutput(opts.output), runId });
    });

  subcommand('schema')
    .description('print the playbook JSON Schema')
    .action(() => {
      process.exitCode = schemaCommand();
    });
  return cli;
}

async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (error) {
    // With --output json the stop is also the last JSON line, for programs; people read stderr.
    const json = requestedOutput(argv.slice(2)) === 'json';
    if (error instanceof CommanderError) {
      // --help and --version exit 0; everything else commander rejects is a usage error.
      process.exitCode = error.exitCode === 0 ? ExitCode.ok : ExitCode.badOptions;
      if (json && error.exitCode !== 0) printJsonEvent(usageErrorEvent(error.message), runId);
      return;
    }
    process.stderr.write(errorReport(error, verbose, hasVerbose));
    process.exitCode = exitCodeForError(error);
    if (json) printJsonEvent(errorEvent(error), runId);
  }
}

await main(process.argv);
