import { labUp } from '../test/lab/index.js';
import { type BrokenStep, runBench, stepRecorder } from './bench/entry.js';
import { otherLabUsers } from './bench/lab-users.js';
import { describeMachine } from './bench/machine.js';
import { type Results, renderReport } from './bench/report.js';
import { backupAndRestore, cleanUp, controllerMemory, prepare, upgradeWindow } from './bench/steps.js';
import { warmAgainstCold } from './bench/warm-cold.js';

// `npm run bench`: memplay's backup, restore and upgrade window on host1 of the
// lab, against memcached-tool, with the targets they are held to. Prints a
// markdown report on stdout (progress on stderr). A MISS is a finding, not a
// failure: the exit status is non-zero only when the bench itself broke.
// `npm run bench -- --only-warm` runs step 5 alone (warm against cold out of service).

function log(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

async function main(): Promise<number> {
  const started = performance.now();
  const machine = describeMachine();
  const others = otherLabUsers();
  log('bringing the lab up');
  const lab = await labUp();
  const bench = await prepare(lab, log);
  const broken: BrokenStep[] = [];
  const attempt = stepRecorder(log, broken);
  let results: Omit<Results, 'totalMs'>;
  try {
    const host = bench.host;
    const onlyWarm = process.argv.includes('--only-warm');
    const step = <T>(name: string, measure: () => Promise<T>) =>
      onlyWarm ? Promise.resolve(undefined) : attempt(name, measure);
    results = {
      machine,
      hostLine: `${host.name}: ${host.user}@127.0.0.1:${host.sshPort} (OpenSSH), memcached ${lab.baselineVersion} on 127.0.0.1:${host.memcachedPort}, -m 256`,
      buildSetup:
        bench.build === 'present'
          ? `${lab.targetVersion} already under ${host.prefix}: no compile in any figure`
          : `${lab.targetVersion} copied from the lab build cache into ${host.prefix} before timing: no compile in any figure`,
      otherLabUsers: others,
      backupAndRestore: await step('1–2 backup and restore', () => backupAndRestore(bench)),
      upgrade: await step('3 upgrade window', () => upgradeWindow(bench)),
      memory: await step('4 controller memory', () => controllerMemory(bench)),
      warmCold: await attempt('5 warm against cold', () => warmAgainstCold(lab, log)),
      broken,
      retried: bench.failures,
    };
  } finally {
    log('putting the lab back to baseline');
    await attempt('clean-up', () => cleanUp(bench));
  }
  process.stdout.write(renderReport({ ...results, totalMs: performance.now() - started }));
  return broken.length > 0 ? 1 : 0;
}

runBench(main, log);
