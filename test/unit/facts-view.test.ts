import { describe, expect, it } from 'vitest';
import type { FleetFacts } from '../../src/facts/fleet-facts.js';
import type { HostFacts } from '../../src/facts/host-facts.js';
import { servingStatsFrom } from '../../src/facts/serving-stats.js';
import { factsEvent, formatFactsTable, formatUptime } from '../../src/report/facts-view.js';
import { head, resolveText } from '../support/playbook-helpers.js';

const fleet = resolveText(`${head}hosts:
  cache1: { address: 10.0.0.1 }
  cache2: { address: 10.0.0.2 }
  cache3: { address: 10.0.0.3 }
`);
const hostConfig = (name: string) => fleet.hosts.find((h) => h.name === name) as (typeof fleet.hosts)[number];

const facts: HostFacts = {
  runningVersion: '1.6.18',
  currentLink: '1.6.18',
  previousLink: null,
  builds: [
    { dir: '1.6.18', reportedVersion: '1.6.18', madeByMemplay: true },
    { dir: '1.6.38', reportedVersion: '1.6.38', madeByMemplay: true },
  ],
  pid: 4242,
  commandLine: ['/opt/memcached/1.6.18/bin/memcached', '-p', '11211'],
  platform: { arch: 'x86_64', libc: 'glibc 2.36', libevent: '2.1.12-stable' },
};
const stats = servingStatsFrom(
  new Map([
    ['uptime', '93784'],
    ['curr_items', '100000'],
    ['bytes', '119400000'],
    ['limit_maxbytes', '268435456'],
    ['get_hits', '931'],
    ['get_misses', '69'],
    ['evictions', '12'],
    ['curr_connections', '3'],
  ]),
);

describe('memplay facts views', () => {
  it('stats: hit ratio from get_hits and get_misses, null before the first get', () => {
    expect(stats.hitRatio).toBeCloseTo(0.931, 6);
    expect(servingStatsFrom(new Map([['get_hits', '0']])).hitRatio).toBeNull();
  });

  it('uptime reads as the two largest units', () => {
    expect([5, 65, 3_725, 93_784].map(formatUptime)).toEqual(['5s', '1m 05s', '1h 02m', '1d 2h']);
  });

  it('the table: one row per host, current build starred, unreachable hosts and a fleet total below', () => {
    const rows: FleetFacts[] = [
      { host: hostConfig('cache1'), reachable: true, facts, stats, problem: null, transfer: 'sftp' },
      {
        host: hostConfig('cache2'),
        reachable: true,
        facts: { ...facts, runningVersion: null, pid: 77, commandLine: ['memcached', '-p', '11311'] },
        stats: null,
        problem: 'the pidfile names pid 77, a memcached listening on port 11311',
        transfer: 'exec-stream',
      },
      { host: hostConfig('cache3'), reachable: false, reason: 'auth', detail: 'cache3: login refused' },
    ];
    expect(formatFactsTable(rows).split('\n')).toEqual([
      'HOST    VERSION               BUILDS           UPTIME    ITEMS      BYTES  HIT RATIO  EVICTIONS  CONNS',
      'cache1  1.6.18                1.6.18*, 1.6.38   1d 2h  100,000  113.9 MiB      93.1%         12      3',
      'cache2  not serving (:11211)  1.6.18*, 1.6.38       -        -          -          -          -      -',
      'cache2 MISMATCH: the pidfile names pid 77, a memcached listening on port 11311',
      // Its sshd refuses SFTP: builds reach it over an exec stream. cache1's SFTP goes without saying.
      'cache2 TRANSFER: exec stream (no SFTP subsystem)',
      'cache3 UNREACHABLE (auth): cache3: login refused',
      '3 hosts: 1 serving (1 on 1.6.18); 1 not serving; 1 unreachable; 100,000 items / 113.9 MiB cached; * = the build current points at',
    ]);
  });

  it('JSON: the same values, exact', () => {
    expect(
      factsEvent({
        host: hostConfig('cache1'),
        reachable: true,
        facts,
        stats,
        problem: null,
        transfer: 'sftp',
      }),
    ).toMatchObject({
      event: 'facts',
      host: 'cache1',
      transfer: 'sftp',
      running_version: '1.6.18',
      current: '1.6.18',
      builds: [
        { dir: '1.6.18', version: '1.6.18' },
        { dir: '1.6.38', version: '1.6.38' },
      ],
      memcached: {
        uptime_s: 93_784,
        items: 100_000,
        bytes: 119_400_000,
        hit_ratio: 0.931,
        evictions: 12,
        connections: 3,
      },
    });
  });
});
