import { labUp } from '../test/lab/index.js';
import { type BrokenStep, runBench, stepRecorder } from './bench/entry.js';
import { otherLabUsers } from './bench/lab-users.js';
import { describeMachine } from './bench/machine.js';
import { type Results, renderReport } from './bench/report.js';
import { backupAndRestore, cleanUp, controllerMemory, prepare, upgradeWindow } from './bench/steps.js';
import { warmAgainstCold } from './bench/warm-cold.js';

// `npm run bench`: memplay's backup, restore and upgrade window on host1 of the
// lab, with the targets they are held to: backup against the tunnel's own
// ceiling and its CPU cost on the controller (memcached-tool is a reference),
// restore, the out-of-service window, the controller's peak RSS. Prints a
// markdown report on stdout (progress on stderr). A MISS is a finding, not a
// failure: the exit status is non-zero only when the bench itself broke.
// `npm run bench -- --only-warm` runs step 5 alone (warm against cold out of service);
// `--steps 1,4` runs only the steps listed (1 is backup and restore, 1–2 in the report).

/** The steps `--steps` names, or every step. */
function chosenSteps(argv: readonly string[]): Set<string> {
  if (argv.includes('--only-warm')) return new Set(['5']);
  const at = argv.indexOf('--steps');
  const list = at >= 0 ? argv[at + 1] : undefined;
  return new Set((list ?? '1,3,4,5').split(',').map((step) => step.trim()));
}

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
    const steps = chosenSteps(process.argv);
    const step = <T>(number: string, name: string, measure: () => Promise<T>) =>
      steps.has(number) ? attempt(name, measure) : Promise.resolve(undefined);
    results = {
      machine,
      hostLine: `${host.name}: ${host.user}@127.0.0.1:${host.sshPort} (OpenSSH), memcached ${lab.baselineVersion} on 127.0.0.1:${host.memcachedPort}, -m 256`,
      buildSetup:
        bench.build === 'present'
          ? `${lab.targetVersion} already under ${host.prefix}: no compile in any figure`
          : `${lab.targetVersion} copied from the lab build cache into ${host.prefix} before timing: no compile in any figure`,
      otherLabUsers: others,
      backupAndRestore: await step('1', '1–2 backup and restore', () => backupAndRestore(bench)),
      upgrade: await step('3', '3 upgrade window', () => upgradeWindow(bench)),
      memory: await step('4', '4 controller memory', () => controllerMemory(bench)),
      warmCold: await step('5', '5 warm against cold', () => warmAgainstCold(lab, log)),
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
