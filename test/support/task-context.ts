import { stringify } from 'yaml';
import type { HostFacts } from '../../src/facts/host-facts.js';
import type { Playbook, Target } from '../../src/playbook/types.js';
import type { GateReport } from '../../src/report/gate-report.js';
import { BuildExchange } from '../../src/tasks/build-sharing.js';
import { localTarballOnce } from '../../src/tasks/source-tarball.js';
import type {
  BuildPeer,
  FinishedBackup,
  HostRun,
  Job,
  ProgressCounts,
  SharedWork,
  SwapChoice,
  TaskContext,
} from '../../src/tasks/task.js';
import { newHostRun } from '../../src/tasks/task.js';
import { resolveText, SHA256 } from './playbook-helpers.js';
import { RecordingTransport } from './recording-transport.js';

// The one place task fixtures build a TaskContext, a playbook and HostFacts:
// when TaskContext changes shape, this file is the one to change.

type Document = Record<string, unknown>;

/** A playbook as a user writes it: one host, pidfile manager, port 11211, target 1.6.38. */
function baseDocument(): Document {
  return {
    name: 'fixture fleet',
    target: {
      version: '1.6.38',
      source: { path: '/srv/memcached-1.6.38.tar.gz', sha256: SHA256 },
    },
    defaults: {
      ssh: { user: 'deploy' },
      memcached: {
        port: 11211,
        prefix: '/opt/memcached',
        args: ['-l', '127.0.0.1', '-m', '64'],
        service: { manager: 'pidfile', pidfile: '/run/memcached/memcached.pid' },
      },
    },
    backup: { dir: '/var/backups/memplay-fixture' },
    hosts: { 'cache-1': { address: '10.0.0.1' } },
  };
}

function isObject(value: unknown): value is Document {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Keys whose object is one choice, replaced whole: a systemd `service` keeps no `pidfile`. */
const replacedWhole = new Set(['service']);

/** Objects merge key by key; anything else (arrays included) replaces. */
function merge(base: Document, overrides: Document): Document {
  const merged: Document = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    const before = merged[key];
    merged[key] =
      isObject(before) && isObject(value) && !replacedWhole.has(key) ? merge(before, value) : value;
  }
  return merged;
}

/**
 * The fixture playbook with `overrides` merged into its document (YAML keys, as a
 * user writes them), then loaded, validated and resolved like a file on disk.
 */
export function fixturePlaybook(overrides: Document = {}): Playbook {
  const text = stringify(merge(baseDocument(), overrides));
  // Loading validates against the schema: once per distinct text keeps each fixture at milliseconds.
  let playbook = resolved.get(text);
  if (!playbook) {
    playbook = resolveText(text, '/fleet/fixture/playbook.yml');
    resolved.set(text, playbook);
  }
  return playbook;
}

/** A resolved playbook is read-only: fixtures may share one. */
const resolved = new Map<string, Playbook>();

/** A host as the fact probe would find it: 1.6.18 built and serving from `current`, nothing else. */
export function hostFacts(overrides: Partial<HostFacts> = {}): HostFacts {
  return {
    runningVersion: '1.6.18',
    currentLink: '1.6.18',
    previousLink: null,
    builds: [{ dir: '1.6.18', reportedVersion: '1.6.18', madeByMemplay: true }],
    pid: null,
    commandLine: null,
    platform: { arch: 'x86_64', libc: 'glibc 2.36', libevent: '2.1.12-stable' },
    ...overrides,
  };
}

/**
 * What earlier tasks of the run (or the engine) decided before this task plans,
 * in the fixtures' words. Where each lives in the context (the engine's
 * decisions, each producer's record of `ctx.run`) is decided below, in one place.
 */
export interface RunState {
  /** The host as the run found it when it connected. */
  readonly startFacts?: HostFacts;
  /** The engine took over the lock of a run that is gone, whose holder this names. */
  readonly lockTakenOverFrom?: string;
  /** backup's plan decided a dump of this size (recorded as `decisions.backup`). */
  readonly plannedBackup?: { readonly items: number; readonly bytes: number };
  /** A sealed, verified backup of this run. */
  readonly backupFile?: FinishedBackup;
  /** swap's plan decided this path (recorded as `decisions.swap`). */
  readonly swapChoice?: SwapChoice;
  /** swap's apply: a warm restart brought the cache back. */
  readonly warmResumed?: { readonly items: number; readonly proof: string };
  /** swap's apply: the build `current` named before the swap (null: none). */
  readonly previousBuild?: string | null;
  /** restore's apply: what it wrote back, and from which file. */
  readonly restored?: HostRun['restore']['restored'];
  /** swap's apply: the old instance recorded for verify's gates. */
  readonly oldInstance?: HostRun['swap']['oldInstance'];
}

export interface TaskContextOptions {
  readonly playbook?: Playbook;
  /** The host's name in the playbook; default its first host. */
  readonly host?: string;
  readonly job?: Job;
  /** Default the playbook's target. */
  readonly target?: Target;
  readonly run?: RunState;
  readonly peers?: readonly BuildPeer[];
  readonly transport?: RecordingTransport;
  /** Per-run work the task shares (a build host, a prebuilt tree); default: the target's tarball and an exchange. */
  readonly shared?: Partial<SharedWork>;
}

export interface TaskFixture {
  readonly ctx: TaskContext;
  readonly transport: RecordingTransport;
  /** The run state as the task sees it (and may write it, which plans should not). */
  readonly run: HostRun;
  readonly progress: { phase: string; counts?: ProgressCounts }[];
  readonly gates: GateReport[];
  /** What the task wrote into the run state (names of fields added or replaced): a plan should write none. */
  runWrites(): string[];
}

export function taskContext(options: TaskContextOptions = {}): TaskFixture {
  const playbook = options.playbook ?? fixturePlaybook();
  const host = options.host
    ? playbook.hosts.find((candidate) => candidate.name === options.host)
    : playbook.hosts[0];
  if (!host) throw new Error(`the fixture playbook has no host ${options.host}`);
  const target = options.target ?? playbook.target;
  const transport = options.transport ?? new RecordingTransport({ hostName: host.name });
  const state = options.run ?? {};
  const defined = <T extends object>(fields: T): T =>
    Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as T;
  const run: HostRun = {
    ...newHostRun(state.startFacts, state.lockTakenOverFrom),
    // What the engine records from earlier plans: the decisions later plans read.
    decisions: defined({
      backup: state.plannedBackup
        ? { kind: 'dump' as const, path: 'meta' as const, ...state.plannedBackup }
        : undefined,
      swap: state.swapChoice ? { choice: state.swapChoice } : undefined,
    }),
    // What earlier tasks' applies produced, each in its producer's record.
    backup: defined({ sealed: state.backupFile }),
    swap: defined({
      warmResumed: state.warmResumed,
      previousBuild: state.previousBuild,
      oldInstance: state.oldInstance,
    }),
    restore: defined({ restored: state.restored }),
  };
  const progress: TaskFixture['progress'] = [];
  const gates: GateReport[] = [];
  const ctx: TaskContext = {
    job: options.job ?? { kind: 'upgrade' },
    host,
    transport,
    target,
    playbook,
    shared: { localTarball: localTarballOnce(target), builds: new BuildExchange(), ...options.shared },
    run,
    peers: options.peers ?? [],
    progress(phase, counts) {
      progress.push(counts ? { phase, counts } : { phase });
    },
    reportGate(report) {
      gates.push(report);
    },
    signal: new AbortController().signal,
  };
  // Every record of the run as the task found it: a plan should change none
  // (only the engine records decisions; only applies write outputs).
  const snapshot = () =>
    Object.fromEntries(Object.entries(run).map(([name, value]) => [name, JSON.stringify(value)]));
  const before = snapshot();
  const runWrites = () => {
    const now = snapshot();
    return Object.keys(now).filter((name) => now[name] !== before[name]);
  };
  return { ctx, transport, run, progress, gates, runWrites };
}
