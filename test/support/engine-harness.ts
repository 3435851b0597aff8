import type { EngineDeps } from '../../src/engine/deps.js';
import type { Journal } from '../../src/engine/journal.js';
import type { Phase, Pipeline } from '../../src/engine/pipeline.js';
import { type RunResult, runPipeline } from '../../src/engine/run.js';
import type { HostFacts } from '../../src/facts/host-facts.js';
import type { Playbook } from '../../src/playbook/types.js';
import type { RunEvent } from '../../src/report/events.js';
import type { Job, TaskContext } from '../../src/tasks/task.js';
import { head, resolveText } from './playbook-helpers.js';
import { RecordingTransport, type ScriptedRun } from './recording-transport.js';
import { hostFacts } from './task-context.js';

// runPipeline with nothing real behind it: fake transports, facts from a table,
// locks granted (or refused, per host), rollbacks and pruning recorded. No
// process, no socket, no root: the engine's own rules are what is under test.

/** A host serving 1.6.18 from `current`, with 1.6.18 and the target 1.6.38 built. */
export function factsOf(overrides: Partial<HostFacts> = {}): HostFacts {
  return hostFacts({
    builds: [
      { dir: '1.6.18', reportedVersion: '1.6.18', madeByMemplay: true },
      { dir: '1.6.38', reportedVersion: '1.6.38', madeByMemplay: true },
    ],
    pid: 4242,
    commandLine: ['/opt/memcached/current/bin/memcached', '-p', '11211'],
    ...overrides,
  });
}

/** A playbook of `count` hosts (host1…), with the strategy lines given (YAML, indented two spaces). */
export function fleetPlaybook(count: number, strategy: readonly string[] = []): Playbook {
  const hosts = Array.from({ length: count }, (_, i) => `  host${i + 1}: { address: 127.0.0.${i + 1} }`);
  const strategyText = strategy.length ? `strategy:\n${strategy.map((line) => `  ${line}\n`).join('')}` : '';
  return resolveText(`${head}${strategyText}hosts:\n${hosts.join('\n')}\n`);
}

/** The pipeline's two phases as upgrade.yml has them: one fleet-wide, one rolling. */
export function twoPhases(prepare: Phase['tasks'], rolling: Phase['tasks']): Pipeline {
  return {
    name: 'upgrade',
    phases: [
      { name: 'prepare', batches: 'fleet', tasks: prepare },
      { name: 'rolling', batches: 'serial', tasks: rolling },
    ],
  };
}

export interface EngineRun {
  readonly result: RunResult;
  readonly events: RunEvent[];
  readonly transports: ReadonlyMap<string, RecordingTransport>;
  /** Hosts rollBack was called for, in order. */
  readonly rollbacks: string[];
  /** Hosts whose lock was taken (apply) or looked at (--check). */
  readonly locksTaken: string[];
  readonly locksPeeked: string[];
  readonly locksReleased: string[];
}

export interface EngineSetup {
  readonly playbook: Playbook;
  readonly pipeline: Pipeline;
  readonly check?: boolean;
  readonly job?: Job;
  /** The facts each host has now; a task's effect may change them (the next gather reads them). */
  readonly facts?: Map<string, HostFacts>;
  /** Hosts whose lock another run holds. */
  readonly busy?: readonly string[];
  readonly signal?: AbortSignal;
  readonly forks?: number;
  readonly deps?: Partial<EngineDeps>;
  readonly journal?: Journal;
  /** What each host's fake transport answers (by command), beyond the default success. */
  readonly script?: (host: string) => readonly ScriptedRun[];
  /** Handed the run's transports and released locks as they fill, for a task to look at mid-run. */
  readonly observe?: (live: LiveRun) => void;
}

/** The parts of an EngineRun that fill while the run goes. */
export type LiveRun = Pick<EngineRun, 'transports' | 'locksReleased'>;

export async function runEngine(setup: EngineSetup): Promise<EngineRun> {
  const events: RunEvent[] = [];
  const transports = new Map<string, RecordingTransport>();
  const rollbacks: string[] = [];
  const locksTaken: string[] = [];
  const locksPeeked: string[] = [];
  const locksReleased: string[] = [];
  setup.observe?.({ transports, locksReleased });
  const facts = setup.facts ?? new Map<string, HostFacts>();
  const factsFor = (host: string) => facts.get(host) ?? factsOf();
  const busy = new Set(setup.busy ?? []);
  const deps: Partial<EngineDeps> = {
    gatherFacts: async (host) => factsFor(host.name),
    takeHostLock: async (host) => {
      if (busy.has(host.name)) return { kind: 'busy', holder: 'ops@other 4711 since 09:00' };
      locksTaken.push(host.name);
      return {
        kind: 'held',
        release: async () => {
          locksReleased.push(host.name);
        },
      };
    },
    peekHostLock: async (host) => {
      locksPeeked.push(host.name);
      return busy.has(host.name) ? { kind: 'busy', holder: 'ops@other 4711 since 09:00' } : { kind: 'free' };
    },
    rollBack: async (ctx: TaskContext) => {
      rollbacks.push(ctx.host.name);
      return { status: 'changed', detail: 'rolled back to 1.6.18' };
    },
    planBackupPrune: async (dir) => ({ folder: dir, kept: 1, prune: [] }),
    removePrunedBackups: async () => ({ removed: [], freedBytes: 0, problems: [] }),
    connectionLost: async () => false,
    ...setup.deps,
  };
  const result = await runPipeline(setup.playbook, setup.playbook.hosts, setup.pipeline, {
    job: setup.job ?? { kind: 'upgrade' },
    check: setup.check ?? false,
    forks: setup.forks ?? 5,
    signal: setup.signal ?? new AbortController().signal,
    memplayVersion: '0.0.0-test',
    emit: (event) => events.push(event),
    connect: async (host) => {
      // The engine's own commands (the connection check) answer with success unless scripted.
      const transport = new RecordingTransport({
        hostName: host.name,
        run: setup.script?.(host.name) ?? [],
        otherwise: {},
      });
      transports.set(host.name, transport);
      return transport;
    },
    deps,
    ...(setup.journal ? { journal: setup.journal } : {}),
  });
  return { result, events, transports, rollbacks, locksTaken, locksPeeked, locksReleased };
}

/** The task events of a run, as `host task status` lines (detail after ': ' when asked). */
export function taskLines(events: readonly RunEvent[], withDetail = false): string[] {
  return events.flatMap((event) =>
    event.event === 'task'
      ? [`${event.host} ${event.task} ${event.status}${withDetail ? `: ${event.detail}` : ''}`]
      : [],
  );
}

/** What swap does to a host's run state once it stopped the old instance: from now on a failure rolls it back. */
export function markTakenDown(ctx: TaskContext): void {
  ctx.run.swap.stoppedAt = performance.now();
}
