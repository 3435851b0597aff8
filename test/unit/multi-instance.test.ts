import { describe, expect, it } from 'vitest';
import { instancesApart, rollingBatches, splitIntoBatches } from '../../src/engine/batches.js';
import { summarizePlans } from '../../src/engine/plan-summary.js';
import { UsageError } from '../../src/errors.js';
import { handoverRoomProblem } from '../../src/facts/handover-room.js';
import { selectHosts } from '../../src/playbook/index.js';
import { hostOf, type Strategy } from '../../src/playbook/types.js';
import { buildBeforeSwap } from '../../src/tasks/swap.js';
import { head, resolveText } from '../support/playbook-helpers.js';
import { RecordingTransport } from '../support/recording-transport.js';
import { taskContext } from '../support/task-context.js';

// hosts.<name>.instances: each instance is a run target of its own, named
// host:port or by its name, selected by --limit through either, and kept out of
// its siblings' rolling batch unless strategy.instances_together.

const fleet = (strategy = '') =>
  resolveText(`${head}${strategy}defaults:
  memcached: { prefix: /opt/mc, args: ["-m", "64"] }
hosts:
  solo: { address: 10.0.0.1 }
  duo:
    address: 10.0.0.2
    instances:
      - port: 11211
      - port: 11212
        args: ["-m", "128"]
  units:
    address: 10.0.0.3
    become: true
    memcached:
      service: { manager: systemd, unit: memcached@11211.service }
    instances:
      - port: 11211
        name: sessions
      - port: 11212
        name: fragments
        service: { unit: memcached@11212.service }
groups:
  east: [duo]
`);

describe('a host with several instances', () => {
  it('becomes one target per instance, host:port or its name, with the host settings under the instance ones', () => {
    const playbook = fleet();
    expect(playbook.hosts.map((host) => [host.name, hostOf(host), host.memcached.port])).toEqual([
      ['solo', 'solo', 11211],
      ['duo:11211', 'duo', 11211],
      ['duo:11212', 'duo', 11212],
      ['sessions', 'units', 11211],
      ['fragments', 'units', 11212],
    ]);
    const [solo, first, second, sessions, fragments] = playbook.hosts;
    // A host running one memcached resolves exactly as before: no instance marker, the usual pidfile.
    expect(solo).not.toHaveProperty('instanceOf');
    expect(solo?.memcached.service).toEqual({ manager: 'pidfile', pidfile: '/opt/mc/memcached.pid' });
    expect(first?.memcached.service).toEqual({ manager: 'pidfile', pidfile: '/opt/mc/memcached-11211.pid' });
    expect(second?.memcached.service).toEqual({ manager: 'pidfile', pidfile: '/opt/mc/memcached-11212.pid' });
    expect(first?.memcached.args).toEqual(['-m', '64']);
    expect(second?.memcached.args).toEqual(['-m', '128']);
    // One build per host: the prefix is the host's, shared by its instances.
    expect(second?.memcached.prefix).toBe('/opt/mc');
    expect(first?.address).toBe('10.0.0.2');
    expect(sessions?.memcached.service).toEqual({
      manager: 'systemd',
      unit: 'memcached@11211.service',
      dropIn: '/etc/systemd/system/memcached@11211.service.d/memplay.conf',
    });
    expect(fragments?.memcached.service).toMatchObject({ unit: 'memcached@11212.service' });
    expect(fragments?.become).toBe(true);
  });

  it('handover fills each instance its own memory file from {port}', () => {
    const playbook = fleet('swap: { mode: handover }\n');
    const files = playbook.hosts.map((host) => host.memcached.args.at(-1));
    expect(files.slice(1, 3)).toEqual(['/dev/shm/memcached-11211.mem', '/dev/shm/memcached-11212.mem']);
  });
});

describe('--limit with instances', () => {
  const playbook = fleet();
  const names = (limit: string) => selectHosts(playbook, limit).map((host) => host.name);

  it("a host's name, or a group listing it, selects all of its instances", () => {
    expect(names('duo')).toEqual(['duo:11211', 'duo:11212']);
    expect(names('units')).toEqual(['sessions', 'fragments']);
    expect(names('east')).toEqual(['duo:11211', 'duo:11212']);
    expect(names('d*')).toEqual(['duo:11211', 'duo:11212']);
  });

  it('host:port or a chosen name selects one instance; a : between other names still separates', () => {
    expect(names('duo:11212')).toEqual(['duo:11212']);
    expect(names('fragments')).toEqual(['fragments']);
    expect(names('solo:duo:11211')).toEqual(['solo', 'duo:11211']);
    expect(names('solo,duo:11212,sessions')).toEqual(['solo', 'duo:11212', 'sessions']);
    expect(names('duo:!duo:11211')).toEqual(['duo:11212']);
    expect(names('all:!units')).toEqual(['solo', 'duo:11211', 'duo:11212']);
    expect(names('duo:1121[2]')).toEqual(['duo:11212']);
  });

  it('a port the host does not run matches nothing, and says what exists', () => {
    let message = '';
    try {
      selectHosts(playbook, 'duo:11299');
    } catch (error) {
      expect(error).toBeInstanceOf(UsageError);
      message = (error as Error).message;
    }
    expect(message).toBe(
      '--limit "duo:11299": duo runs no instance on port 11299; its instances: duo:11211, duo:11212',
    );
  });
});

describe('batches with instances', () => {
  const playbook = fleet();
  const apart = instancesApart(playbook.strategy, playbook.hosts);
  const all = playbook.hosts.map((host) => host.name);
  const count = (n: number) => [{ kind: 'count' as const, count: n }];

  it('serial counts instances, and two instances of one host never share a batch', () => {
    expect(splitIntoBatches(all, count(2), apart)).toEqual([
      ['solo', 'duo:11211'],
      ['duo:11212', 'sessions'],
      ['fragments'],
    ]);
    expect(splitIntoBatches(all, count(5), apart)).toEqual([
      ['solo', 'duo:11211', 'sessions'],
      ['duo:11212', 'fragments'],
    ]);
    expect(splitIntoBatches(all, [{ kind: 'percent', percent: 100 }], apart)).toEqual([
      ['solo', 'duo:11211', 'sessions'],
      ['duo:11212', 'fragments'],
    ]);
  });

  it('strategy.instances_together lets serial put them side by side', () => {
    const together = fleet('strategy: { instances_together: true }\n');
    expect(together.strategy.instancesTogether).toBe(true);
    expect(instancesApart(together.strategy, together.hosts)).toBeUndefined();
    const names = together.hosts.map((host) => host.name);
    expect(splitIntoBatches(names, count(5), instancesApart(together.strategy, together.hosts))).toEqual([
      names,
    ]);
  });

  it('targets already on their version go first together; the others stay apart', () => {
    const onTarget = (name: string) => name === 'duo:11211' || name === 'sessions';
    expect(rollingBatches(all, count(3), onTarget, apart)).toEqual([
      ['duo:11211', 'sessions'],
      ['solo', 'duo:11212', 'fragments'],
    ]);
    expect(rollingBatches(['duo:11211', 'duo:11212', 'solo'], count(3), () => false, apart)).toEqual([
      ['duo:11211', 'solo'],
      ['duo:11212'],
    ]);
  });

  it("--check's summary lays the batches out as apply runs them", () => {
    const strategy: Strategy = { ...playbook.strategy, serial: count(2) };
    const summary = summarizePlans(
      ['duo:11211', 'duo:11212', 'solo'].map((host) => ({ host, outcome: 'changed' as const, actions: [] })),
      strategy,
      apart,
    );
    expect(summary.batches.map((batch) => batch.hosts)).toEqual([['duo:11211', 'solo'], ['duo:11212']]);
  });
});

describe('room for handovers of instances together', () => {
  const mib = 1024 * 1024;
  const room = {
    memAvailableBytes: 1000 * mib,
    folderFreeBytes: 700 * mib,
    folderType: 'tmpfs',
    existingFileBytes: 0,
  };

  it('one instance at a time needs room for its own copy only', () => {
    expect(handoverRoomProblem(room, '/dev/shm/memcached-11211.mem', 512 * mib)).toBeUndefined();
  });

  it('instances handing over together need room for all their copies, on the tmpfs and in memory', () => {
    expect(
      handoverRoomProblem(room, '/dev/shm/memcached-11211.mem', 512 * mib, {
        memoryBytes: 256 * mib,
        folderBytes: 256 * mib,
      }),
    ).toBe(
      "/dev/shm has 700.0 MiB free, the new instance's memory file needs 512.0 MiB (-m) and the host's other instances in this batch 256.0 MiB more",
    );
    expect(
      handoverRoomProblem(room, '/dev/shm/memcached-11211.mem', 512 * mib, {
        memoryBytes: 400 * mib,
        folderBytes: 0,
      }),
    ).toBe(
      "the host has 1000.0 MiB of memory available, a second copy of the cache needs 512.0 MiB (-m) and the host's other instances in this batch 400.0 MiB more and a margin",
    );
  });
});

describe('the build a swapped instance goes back to on a failure', () => {
  // `current` is shared: the host's first instance swapped already points it at 1.6.38.
  const playbook = fleet();
  const readlink = { match: /^readlink /, result: { stdout: '1.6.38\n' } };

  it('an instance still running 1.6.18 goes back to 1.6.18, not to what current names', async () => {
    const transport = new RecordingTransport({ run: [readlink], tcp: { 11212: { version: '1.6.18' } } });
    const { ctx } = taskContext({ playbook, host: 'duo:11212', transport });
    expect(await buildBeforeSwap(ctx, '1.6.38')).toBe('1.6.18');
  });

  it('a host running one memcached goes back to what current named, as always', async () => {
    const transport = new RecordingTransport({ run: [readlink], tcp: { 11211: { version: '1.6.18' } } });
    const { ctx } = taskContext({ playbook, host: 'solo', transport });
    expect(await buildBeforeSwap(ctx, '1.6.38')).toBe('1.6.38');
    expect(transport.tcp).toEqual([]);
  });

  it('an instance that current does not name the target of keeps what current names', async () => {
    const transport = new RecordingTransport({
      run: [{ match: /^readlink /, result: { stdout: '1.6.18\n' } }],
      tcp: { 11211: { version: '1.6.18' } },
    });
    const { ctx } = taskContext({ playbook, host: 'duo:11211', transport });
    expect(await buildBeforeSwap(ctx, '1.6.38')).toBe('1.6.18');
  });
});
