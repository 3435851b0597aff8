import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { labUp } from '../test/lab/index.js';
import { type BrokenStep, runBench, stepRecorder } from './bench/entry.js';
import { otherLabUsers } from './bench/lab-users.js';
import { describeMachine } from './bench/machine.js';
import { BIG_CACHE } from './bench/steps.js';
import { count } from './bench/units.js';
import { ansibleSettings, prepareAnsible } from './bench-fleet/ansible.js';
import { type CacheSize, cleanHost, describeSize } from './bench-live/hosts.js';
import {
  allPaths,
  type LiveBench,
  type PathName,
  type PathRun,
  runPath,
  warmTarget,
} from './bench-live/paths.js';
import { type LiveResults, renderLiveReport } from './bench-live/report.js';
import type { TrafficSettings } from './bench-live/under-traffic.js';

// `npm run bench:live`: what clients see while memplay upgrades a busy cache,
// per data path (issue: live traffic). Every host of the lab carries the same
// cache and its own client traffic; memplay upgrades them one at a time (serial
// 1) cold, warm and by handover, and a plain restart and the Ansible play with
// memcached-tool give the scale. Markdown report on stdout, progress on stderr.
// A MISS is a finding, not a failure: the exit status is non-zero only when the
// bench itself broke.
//
// Sizes are flags:
//   --hosts 3             lab hosts, each with its own cache and traffic
//   --items 100000 --mb 120   the adversarial data set per host
//   --ops 400             client ops per second on each host
//   --paths cold,warm,handover,restart,ansible   the rows
//   --big                 also cold, warm and handover on one host with ~1 GB (slow)

function log(message: string): void {
  process.stderr.write(`bench:live: ${message}\n`);
}

const trafficKeys = 3_000;

function parseOptions(argv: readonly string[]) {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      hosts: { type: 'string', default: '3' },
      items: { type: 'string', default: '100000' },
      mb: { type: 'string', default: '120' },
      ops: { type: 'string', default: '400' },
      paths: { type: 'string', default: allPaths.join(',') },
      big: { type: 'boolean', default: false },
    },
  });
  const [hosts, items, mb, ops] = [values.hosts, values.items, values.mb, values.ops].map(Number) as [
    number,
    number,
    number,
    number,
  ];
  if (![hosts, items, mb, ops].every((n) => Number.isInteger(n) && n > 0) || hosts > 10) {
    throw new Error('bench:live: --hosts (1 to 10), --items, --mb and --ops take whole numbers above 0');
  }
  const paths = values.paths.split(',').map((p) => p.trim());
  const unknown = paths.filter((p) => !(allPaths as readonly string[]).includes(p));
  if (unknown.length > 0 || paths.length === 0) {
    throw new Error(`bench:live: --paths takes some of ${allPaths.join(',')}, not ${values.paths}`);
  }
  return {
    hosts,
    items,
    mb,
    ops,
    // In the order of the report, whatever the order given.
    paths: allPaths.filter((p) => paths.includes(p)),
    big: values.big,
  };
}

/** Room for the data set and the slabs it spreads over: twice its bytes, 256 MB at least. */
function memoryFor(mb: number): number {
  return Math.max(256, Math.ceil((mb * 2) / 64) * 64);
}

async function main(): Promise<number> {
  const started = performance.now();
  const options = parseOptions(process.argv.slice(2));
  const machine = describeMachine();
  const others = otherLabUsers();
  log(`bringing up a lab of ${options.hosts} host(s)`);
  const lab = await labUp({ hosts: options.hosts });
  const workDir = join(lab.dir, 'bench-live');
  await rm(workDir, { recursive: true, force: true });
  const traffic: TrafficSettings = {
    opsPerSecond: options.ops,
    keys: trafficKeys,
    marginMs: 1_000,
    maxDurationMs: 25 * 60_000,
  };
  const bench: LiveBench = {
    lab,
    workDir,
    ansible: await prepareAnsible(lab, workDir, options.hosts),
    traffic,
    log,
  };
  const size: CacheSize = {
    kind: 'generated',
    count: options.items,
    totalBytes: options.mb * 1_000_000,
    memoryMb: memoryFor(options.mb),
  };
  const bigSize: CacheSize = { kind: 'uniform', ...BIG_CACHE };
  const bigPaths = options.paths.filter(
    (p): p is PathName => p === 'cold' || p === 'warm' || p === 'handover',
  );
  const firstHost = lab.hosts[0];
  if (!firstHost) throw new Error('bench:live: the lab has no host1');

  const broken: BrokenStep[] = [];
  const attempt = stepRecorder(log, broken);
  const runs: PathRun[] = [];
  const leftOut = [
    ...allPaths.filter((p) => !options.paths.includes(p)).map((p) => `${p} (not in --paths)`),
    ...(options.big ? [] : ['the ~1 GB host (--big)']),
  ];
  try {
    for (const path of options.paths) {
      const run = await attempt(`${path}, ${describeSize(size)}`, () =>
        runPath(bench, path, lab.hosts, size),
      );
      if (run) runs.push(run);
    }
    for (const path of options.big ? bigPaths : []) {
      const run = await attempt(`${path}, ${describeSize(bigSize)}`, () =>
        runPath(bench, path, [firstHost], bigSize),
      );
      if (run) runs.push(run);
    }
  } finally {
    log('putting the hosts back to baseline');
    await attempt('clean-up', async () => {
      await Promise.all(lab.hosts.map((h) => cleanHost(lab, h)));
      await rm(join(workDir, 'backups'), { recursive: true, force: true });
    });
  }
  const results: LiveResults = {
    machine,
    settings: [
      `lab: ${lab.hosts.length} host${lab.hosts.length === 1 ? '' : 's'} on loopback (one sshd, Unix user and memcached each; ssh ${lab.hosts.map((h) => h.sshPort).join(', ')}, memcached ${lab.hosts.map((h) => h.memcachedPort).join(', ')})`,
      `cache per host: ${describeSize(size)} of adversarial items (test/lab/items/generator.ts, seed 1201 + host), memcached -m ${size.memoryMb}${options.big ? `; --big: ${describeSize(bigSize)} of uniform ${BIG_CACHE.valueSize} B items on host1, -m ${bigSize.memoryMb}` : ''}`,
      `traffic: per host one run of 8 memjs clients (test/lab/traffic.ts), ${options.ops} ops/s, get/set/delete 60/25/15 over ${count(trafficKeys)} preloaded keys of 200 B, 500 ms per op, on 127.0.0.1; all hosts at once, from ${traffic.marginMs / 1000} s before the upgrade until ${traffic.marginMs / 1000} s after it, then one read of every key`,
      `memplay: bin/memplay.js apply --output json --forks 1, serial 1 over every host; cold and handover ${lab.baselineVersion} → ${lab.targetVersion}, warm ${lab.baselineVersion} → ${warmTarget} with each host on its own memory file (-e /dev/shm/<user>-memcached.mem); target builds copied in before (no compile in any row)`,
      'plain restart: each memcached stopped by its pidfile (SIGTERM) and started again empty from the same build, one host after the other',
      `Ansible: only the upgrade play, ansible-playbook rolling.yml (scripts/bench-fleet/ansible/; memcached-tool dump, stop/relink/start, nc the dump back, serial 1; it starts the new memcached with its own -m 256), ${ansibleSettings(options.hosts)}`,
    ],
    otherLabUsers: others,
    runs,
    leftOut,
    broken,
    totalMs: performance.now() - started,
  };
  process.stdout.write(renderLiveReport(results));
  return broken.length > 0 ? 1 : 0;
}

runBench(main, log);
