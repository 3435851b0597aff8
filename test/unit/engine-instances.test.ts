import { describe, expect, it } from 'vitest';
import type { HostFacts } from '../../src/facts/host-facts.js';
import { hostOf, type Playbook } from '../../src/playbook/types.js';
import { changed, ok, type TaskContext, type TaskModule } from '../../src/tasks/task.js';
import type { RawTransport } from '../../src/transport/command-events.js';
import { SharedConnections } from '../../src/transport/connect.js';
import { factsOf, runEngine, taskLines, twoPhases } from '../support/engine-harness.js';
import { head, resolveText } from '../support/playbook-helpers.js';

// The engine over hosts that run several instances: one lock and one build per
// host, instances of one host taken in turn in the prepare phase, and never two
// of them in one rolling batch (so never out of service together).

function playbook(strategy = 'strategy: { serial: 5 }\n'): Playbook {
  return resolveText(`${head}${strategy}hosts:
  duo:
    address: 10.0.0.2
    instances:
      - port: 11211
      - port: 11212
  solo: { address: 10.0.0.1 }
`);
}

const notBuilt = (): HostFacts =>
  factsOf({ builds: [{ dir: '1.6.18', reportedVersion: '1.6.18', madeByMemplay: true }] });

/** Facts per real host, as a host's instances see one prefix: what one builds, the next finds. */
function sharedFacts(book: Playbook): { facts: Map<string, HostFacts>; of: (target: string) => HostFacts } {
  const facts = new Map<string, HostFacts>();
  const hostByName = new Map(book.hosts.map((host) => [host.name, hostOf(host)]));
  const of = (target: string) => {
    const host = hostByName.get(target) ?? target;
    if (!facts.has(host)) facts.set(host, notBuilt());
    return facts.get(host) as HostFacts;
  };
  return { facts, of };
}

interface Span {
  readonly host: string;
  readonly start: number;
  end: number;
}

/** A build that installs 1.6.38 on the real host, slowly enough for a race to show. */
function buildTask(facts: Map<string, HostFacts>, spans: Span[]): TaskModule {
  return {
    name: 'build',
    async plan(_ctx, current) {
      if (current.builds.some((build) => build.dir === '1.6.38')) return ok('1.6.38 already built', current);
      return changed('compile 1.6.38', {
        ...current,
        builds: [...current.builds, { dir: '1.6.38', reportedVersion: '1.6.38', madeByMemplay: true }],
      });
    },
    async apply(ctx: TaskContext) {
      const span: Span = { host: ctx.host.name, start: performance.now(), end: Number.POSITIVE_INFINITY };
      spans.push(span);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const host = hostOf(ctx.host);
      const now = facts.get(host) as HostFacts;
      facts.set(host, {
        ...now,
        builds: [...now.builds, { dir: '1.6.38', reportedVersion: '1.6.38', madeByMemplay: true }],
      });
      span.end = performance.now();
      return { status: 'changed', detail: 'built' };
    },
  };
}

/** A swap that takes the instance out of service for a while. */
function swapTask(spans: Span[]): TaskModule {
  return {
    name: 'swap',
    async plan(_ctx, current) {
      return changed('stop, start 1.6.38', current);
    },
    async apply(ctx: TaskContext) {
      const span: Span = { host: ctx.host.name, start: performance.now(), end: Number.POSITIVE_INFINITY };
      spans.push(span);
      await new Promise((resolve) => setTimeout(resolve, 15));
      span.end = performance.now();
      return { status: 'changed', detail: 'swapped' };
    },
  };
}

function overlapping(spans: readonly Span[], a: string, b: string): boolean {
  const first = spans.find((span) => span.host === a);
  const second = spans.find((span) => span.host === b);
  if (!first || !second) throw new Error(`no span for ${a} or ${b}`);
  return first.start < second.end && second.start < first.end;
}

describe('the engine over a host with two instances', () => {
  it('takes the host lock once for both instances and releases it once, after both', async () => {
    const book = playbook();
    const { facts, of } = sharedFacts(book);
    const builds: Span[] = [];
    const run = await runEngine({
      playbook: book,
      pipeline: twoPhases([buildTask(facts, builds)], [swapTask([])]),
      deps: { gatherFacts: async (host) => of(host.name) },
    });
    expect(run.locksTaken).toEqual(['duo:11211', 'solo']);
    expect(run.locksReleased.filter((name) => name.startsWith('duo'))).toEqual(['duo:11211']);
    expect(Object.entries(run.result.recap).map(([host, recap]) => [host, recap.changed])).toEqual([
      ['duo:11211', 2],
      ['duo:11212', 1],
      ['solo', 2],
    ]);
  });

  it('builds once per host: the second instance waits its turn and finds the build installed', async () => {
    const book = playbook();
    const { facts, of } = sharedFacts(book);
    const builds: Span[] = [];
    const run = await runEngine({
      playbook: book,
      pipeline: twoPhases([buildTask(facts, builds)], [swapTask([])]),
      deps: { gatherFacts: async (host) => of(host.name) },
    });
    const lines = taskLines(run.events, true).filter((line) => line.includes(' build '));
    expect(lines).toEqual(
      expect.arrayContaining([
        'duo:11211 build changed: built',
        'duo:11212 build ok: 1.6.38 already built',
        'solo build changed: built',
      ]),
    );
    expect(builds.map((span) => span.host).sort()).toEqual(['duo:11211', 'solo']);
  });

  it('--check: the second instance plans against the build its sibling predicts', async () => {
    const book = playbook();
    const { facts, of } = sharedFacts(book);
    const run = await runEngine({
      playbook: book,
      check: true,
      pipeline: twoPhases([buildTask(facts, [])], [swapTask([])]),
      deps: { gatherFacts: async (host) => of(host.name) },
    });
    const lines = taskLines(run.events, true).filter((line) => line.includes(' build '));
    expect(lines).toEqual(
      expect.arrayContaining([
        'duo:11211 build changed: compile 1.6.38',
        'duo:11212 build ok: 1.6.38 already built',
      ]),
    );
    expect(run.locksPeeked).toEqual(['duo:11211', 'solo']);
  });

  it('serial 5 still puts the two instances in separate batches, never out of service together', async () => {
    const book = playbook();
    const { facts, of } = sharedFacts(book);
    const swaps: Span[] = [];
    const run = await runEngine({
      playbook: book,
      pipeline: twoPhases([buildTask(facts, [])], [swapTask(swaps)]),
      deps: { gatherFacts: async (host) => of(host.name) },
    });
    const batches = run.events.flatMap((event) =>
      event.event === 'batch' && event.phase === 'rolling' ? [event.hosts] : [],
    );
    expect(batches).toEqual([['duo:11211', 'solo'], ['duo:11212']]);
    expect(overlapping(swaps, 'duo:11211', 'duo:11212')).toBe(false);
    expect(overlapping(swaps, 'duo:11211', 'solo')).toBe(true);
  });

  it('strategy.instances_together: one batch, and the swaps may overlap', async () => {
    const book = playbook('strategy: { serial: 5, instances_together: true }\n');
    const { facts, of } = sharedFacts(book);
    const swaps: Span[] = [];
    const run = await runEngine({
      playbook: book,
      pipeline: twoPhases([buildTask(facts, [])], [swapTask(swaps)]),
      deps: { gatherFacts: async (host) => of(host.name) },
    });
    const batches = run.events.flatMap((event) =>
      event.event === 'batch' && event.phase === 'rolling' ? [event.hosts] : [],
    );
    expect(batches).toEqual([['duo:11211', 'duo:11212', 'solo']]);
    expect(overlapping(swaps, 'duo:11211', 'duo:11212')).toBe(true);
  });
});

describe('one connection per host for its instances', () => {
  function fakeTransport(name: string, closed: string[]): RawTransport {
    const refuse = () => Promise.reject(new Error('not in this test'));
    return {
      hostName: name,
      run: refuse,
      runRaw: refuse,
      upload: refuse,
      download: refuse,
      transferMethod: refuse,
      openTcp: refuse,
      hold: refuse,
      close: async () => {
        closed.push(name);
      },
    };
  }

  it('opens it once under the host name, and closes it when the last instance closes', async () => {
    const opened: string[] = [];
    const closed: string[] = [];
    const shared = new SharedConnections(async (host) => {
      opened.push(host.name);
      return fakeTransport(host.name, closed);
    });
    const target = (port: number) => ({
      name: `duo:${port}`,
      instanceOf: 'duo',
      address: '10.0.0.2',
      connection: 'ssh' as const,
      ssh: { user: 'u', port: 22, knownHosts: '/k', connectTimeoutMs: 1000 },
    });
    const [first, second] = await Promise.all([
      shared.open(target(11211), 'duo'),
      shared.open(target(11212), 'duo'),
    ]);
    expect(opened).toEqual(['duo']);
    expect(first?.hostName).toBe('duo');
    await first?.close();
    await first?.close();
    expect(closed).toEqual([]);
    await second?.close();
    expect(closed).toEqual(['duo']);
    // Closed for good: a later instance opens a new one.
    await (await shared.open(target(11211), 'duo')).close();
    expect(opened).toEqual(['duo', 'duo']);
  });

  it('a failed open is not kept: the next instance tries again', async () => {
    let attempts = 0;
    const shared = new SharedConnections(async (host) => {
      attempts += 1;
      if (attempts === 1) throw new Error('unreachable');
      return fakeTransport(host.name, []);
    });
    const target = {
      name: 'duo:11211',
      instanceOf: 'duo',
      address: '10.0.0.2',
      connection: 'ssh' as const,
      ssh: { user: 'u', port: 22, knownHosts: '/k', connectTimeoutMs: 1000 },
    };
    await expect(shared.open(target, 'duo')).rejects.toThrow('unreachable');
    await expect(shared.open(target, 'duo')).resolves.toMatchObject({ hostName: 'duo' });
  });
});
