import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { errorMessage } from '../src/errors.js';
import { type Lab, labUp } from '../test/lab/index.js';
import { maxLabHosts } from '../test/lab/layout.js';
import { type BrokenStep, runBench, stepRecorder } from './bench/entry.js';
import { otherLabUsers } from './bench/lab-users.js';
import { describeMachine } from './bench/machine.js';
import { ansibleSettings, prepareAnsible } from './bench-fleet/ansible.js';
import { type BigResults, type BigStep, bigRun, bigSteps } from './bench-fleet/big.js';
import { type FleetResults, renderFleetReport } from './bench-fleet/report.js';
import { checkRuns, type FleetBench, noopRun, resetHosts, upgradeRun } from './bench-fleet/steps.js';

// `npm run bench:fleet`: memplay against an equivalent Ansible playbook on lab
// fleets (issue 5): --check and no-op runs, a full rolling upgrade with data,
// the out-of-service window per host, controller RSS per fleet size. Markdown
// report on stdout, progress on stderr. A MISS is a finding, not a failure: the
// exit status is non-zero only when the bench itself broke.
//
// Sizes are flags, for machines where the full run takes too long:
//   --fleets 3,20,50      --check runs (and RSS) at these fleet sizes
//   --ansible-check 20,50 sizes that also get the Ansible --check run
//   --noop 20             hosts in the no-op comparison (0: left out)
//   --upgrade 3           hosts in the full rolling upgrade (0: left out)
//   --items 100000 --mb 120   data set per host in the upgrade
//   --forks 20            memplay --forks and Ansible's forks
//   --big 500             hosts in the 500-host section (0: left out; it takes ~40 min)
//   --big-forks 50        forks on both sides in that section
//   --big-items 1000      items a host in that section's upgrade
//   --big-steps facts,check,upgrade   that section's comparisons (upgrade brings its no-op)
//   --big-ansible no      that section without Ansible's side (memplay's figures alone)
//   --big-memplay no      the upgrade step's Ansible side alone (upgrade and no-op)

function log(message: string): void {
  process.stderr.write(`bench:fleet: ${message}\n`);
}

function sizes(raw: string, flag: string): number[] {
  const list = raw === '' || raw === '0' ? [] : raw.split(',').map(Number);
  if (list.some((n) => !Number.isInteger(n) || n < 1 || n > 50)) {
    throw new Error(`bench:fleet: ${flag} takes host counts from 1 to 50 separated by commas, not ${raw}`);
  }
  return [...new Set(list)].sort((a, b) => a - b);
}

function bigStepsOf(raw: string): ReadonlySet<BigStep> {
  const named = raw.split(',').filter((name) => name !== '');
  const unknown = named.filter((name) => !(bigSteps as readonly string[]).includes(name));
  if (unknown.length > 0 || named.length === 0) {
    throw new Error(`bench:fleet: --big-steps takes some of ${bigSteps.join(',')}, not ${raw}`);
  }
  return new Set(named as BigStep[]);
}

function yesOrNo(raw: string, flag: string): boolean {
  if (raw !== 'yes' && raw !== 'no') throw new Error(`bench:fleet: ${flag} takes yes or no, not ${raw}`);
  return raw === 'yes';
}

function parseOptions(argv: readonly string[]) {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      fleets: { type: 'string', default: '3,20,50' },
      'ansible-check': { type: 'string', default: '20,50' },
      noop: { type: 'string', default: '20' },
      upgrade: { type: 'string', default: '3' },
      items: { type: 'string', default: '100000' },
      mb: { type: 'string', default: '120' },
      forks: { type: 'string', default: '20' },
      big: { type: 'string', default: String(maxLabHosts) },
      'big-forks': { type: 'string', default: '50' },
      'big-items': { type: 'string', default: '1000' },
      'big-steps': { type: 'string', default: bigSteps.join(',') },
      'big-ansible': { type: 'string', default: 'yes' },
      'big-memplay': { type: 'string', default: 'yes' },
    },
  });
  const fleets = sizes(values.fleets, '--fleets');
  const ansibleCheck = sizes(values['ansible-check'], '--ansible-check');
  const noop = sizes(values.noop, '--noop')[0] ?? 0;
  const upgrade = sizes(values.upgrade, '--upgrade')[0] ?? 0;
  const items = Number(values.items);
  const mb = Number(values.mb);
  const forks = Number(values.forks);
  if (![items, mb, forks].every((n) => Number.isInteger(n) && n > 0)) {
    throw new Error('bench:fleet: --items, --mb and --forks take whole numbers above 0');
  }
  const big = Number(values.big);
  const bigForks = Number(values['big-forks']);
  const bigItems = Number(values['big-items']);
  if (!Number.isInteger(big) || big < 0 || big > maxLabHosts) {
    throw new Error(
      `bench:fleet: --big takes a host count from 1 to ${maxLabHosts}, or 0 to leave it out, not ${values.big}`,
    );
  }
  if (![bigForks, bigItems].every((n) => Number.isInteger(n) && n > 0)) {
    throw new Error('bench:fleet: --big-forks and --big-items take whole numbers above 0');
  }
  return {
    fleets: [...new Set([...fleets, ...ansibleCheck])].sort((a, b) => a - b),
    ansibleCheck,
    noop,
    upgrade,
    items,
    mb,
    forks,
    big: {
      hosts: big,
      forks: bigForks,
      items: bigItems,
      steps: bigStepsOf(values['big-steps']),
      ansible: yesOrNo(values['big-ansible'], '--big-ansible'),
      memplay: yesOrNo(values['big-memplay'], '--big-memplay'),
    },
  };
}

// labUp creates users one by one and starts an sshd per host: a transient
// failure there (a busy /etc/passwd) is worth one more try before giving up.
async function bringUp(hosts: number): Promise<Lab> {
  try {
    return await labUp({ hosts });
  } catch (error) {
    log(`lab up failed, trying once more: ${errorMessage(error)}`);
    return labUp({ hosts });
  }
}

async function main(): Promise<number> {
  const started = performance.now();
  const options = parseOptions(process.argv.slice(2));
  const machine = describeMachine();
  const others = otherLabUsers();
  const largest = Math.max(3, options.noop, options.upgrade, options.big.hosts, ...options.fleets);
  log(`bringing up a lab of ${largest} hosts`);
  const lab = await bringUp(largest);
  const workDir = join(lab.dir, 'bench-fleet');
  await rm(workDir, { recursive: true, force: true });
  const bench: FleetBench = {
    lab,
    ansible: await prepareAnsible(lab, workDir, options.forks),
    workDir,
    forks: options.forks,
    log,
  };
  const broken: BrokenStep[] = [];
  const attempt = stepRecorder(log, broken);
  const leftOut: string[] = [];
  if (options.noop === 0) leftOut.push('the no-op comparison (--noop 0)');
  if (options.upgrade === 0) leftOut.push('the full rolling upgrade (--upgrade 0)');
  if (options.fleets.length === 0) leftOut.push('--check and RSS per fleet size (--fleets 0)');
  if (options.big.hosts === 0) leftOut.push('the 500-host section (--big 0)');
  const big: BigResults = { options: options.big };
  const size = { count: options.items, totalBytes: options.mb * 1_000_000 };
  let results: Omit<FleetResults, 'totalMs'>;
  try {
    const checks = await attempt('1. --check', () => checkRuns(bench, options.fleets, options.ansibleCheck));
    const noop = options.noop > 0 ? await attempt('1. no-op', () => noopRun(bench, options.noop)) : undefined;
    const upgrade =
      options.upgrade > 0
        ? await attempt('2–3. rolling upgrade', () => upgradeRun(bench, options.upgrade, size))
        : undefined;
    if (options.big.hosts > 0) {
      // Its own forks: the section compares both tools at the same forks over hundreds of hosts.
      await attempt(`500 hosts (${options.big.hosts})`, () =>
        bigRun(
          { ...bench, forks: options.big.forks, ansible: { ...bench.ansible, forks: options.big.forks } },
          options.big,
          big,
        ),
      );
    }
    results = {
      machine,
      settings: [
        `lab: ${lab.hosts.length} hosts on loopback (one sshd, Unix user and memcached -m 256 each; fleets of N are host1..N), memcached ${lab.baselineVersion} → ${lab.targetVersion}`,
        `memplay: bin/memplay.js apply --output json --forks ${options.forks}`,
        `Ansible: ${ansibleSettings(options.forks)}; playbooks in scripts/bench-fleet/ansible/`,
      ],
      otherLabUsers: others,
      ...(checks && { checks }),
      ...(noop && { noop }),
      ...(upgrade && { upgrade }),
      ...(options.big.hosts > 0 && { big }),
      leftOut,
      broken,
    };
  } finally {
    log('putting the hosts the bench changed back to baseline');
    await attempt('clean-up', async () => {
      await resetHosts(bench, lab.hosts.slice(0, Math.max(options.noop, options.upgrade, options.big.hosts)));
      await rm(join(workDir, 'backups'), { recursive: true, force: true });
    });
  }
  process.stdout.write(renderFleetReport({ ...results, totalMs: performance.now() - started }));
  return broken.length > 0 ? 1 : 0;
}

runBench(main, log);
