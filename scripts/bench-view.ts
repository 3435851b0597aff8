import { closeSync, openSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { batchLinesRenderer, batchLiveRenderer, frameMs } from '../src/report/batch-renderer.js';
import type { RunEvent } from '../src/report/events.js';
import { plainRenderer } from '../src/report/plain.js';
import { describeMachine } from './bench/machine.js';
import { generateStream, type TimedEvent } from './bench-view/stream.js';

// `npm run bench:view`: what the live view itself costs at 500 hosts (issue 18:
// at most 5 % of the controller's CPU). A 500-host serial-10 % apply is replayed
// as its events (scripts/bench-view/stream.ts) on a clock of its own, so a run of
// several minutes takes seconds: every event handed to the renderer at its
// moment, and a frame drawn every 100 ms of the run's time, as the live view's
// timer draws them. What the renderer writes goes to /dev/null through write(2),
// as to a terminal. The CPU the process spends in all that (process.cpuUsage) is
// the view's cost for the run, set against the controller's CPU for the same run,
// from a real `memplay apply` on the lab (flags below; docs/benchmarks.md).
//
//   --hosts 500 --forks 50 --serial 0.1   the run replayed
//   --compile-s 35                        the one compile's length
//   --controller-fixed-s 1.9 --controller-per-host-s 1.17
//                                         the controller's CPU on the lab: fixed + per host
//   --runs 5                              replays of each view; the median is reported

function options(argv: readonly string[]) {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      hosts: { type: 'string', default: '500' },
      forks: { type: 'string', default: '50' },
      serial: { type: 'string', default: '0.1' },
      'compile-s': { type: 'string', default: '35' },
      'controller-fixed-s': { type: 'string', default: '1.9' },
      'controller-per-host-s': { type: 'string', default: '1.17' },
      runs: { type: 'string', default: '5' },
    },
  });
  const number = (name: keyof typeof values) => {
    const value = Number(values[name]);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
    return value;
  };
  return {
    hosts: number('hosts'),
    forks: number('forks'),
    serial: number('serial'),
    compileMs: number('compile-s') * 1000,
    controllerFixedS: number('controller-fixed-s'),
    controllerPerHostS: number('controller-per-host-s'),
    runs: number('runs'),
  };
}

interface Replay {
  readonly cpuMs: number;
  readonly frames: number;
  readonly bytes: number;
  readonly lines: number;
}

type View = 'batches on a terminal' | 'batches as log lines' | 'plain (a line per result)';

/** Replays the stream into one view on the run's own clock; returns the CPU it took. */
function replay(view: View, stream: readonly TimedEvent[], out: number, everyMs = frameMs): Replay {
  let clock = 0;
  const now = () => clock;
  let bytes = 0;
  let lines = 0;
  const write = (text: string) => {
    bytes += Buffer.byteLength(text);
    writeSync(out, text);
  };
  const writeLine = (line: string) => {
    lines += 1;
    write(`${line}\n`);
  };
  let frame: (() => void) | undefined;
  let handle: (event: RunEvent) => void;
  if (view === 'batches on a terminal') {
    const live = batchLiveRenderer(write, {
      columns: 160,
      now,
      ticker: (draw) => {
        frame = draw;
        return () => {
          frame = undefined;
        };
      },
    });
    handle = live.handle;
  } else if (view === 'batches as log lines') {
    handle = batchLinesRenderer(writeLine, { now });
  } else {
    handle = plainRenderer(writeLine, false);
  }
  let frames = 0;
  let nextFrame = 0;
  const before = process.cpuUsage();
  for (const { at, event } of stream) {
    while (frame && nextFrame <= at) {
      clock = nextFrame;
      frame();
      frames += 1;
      nextFrame += everyMs;
    }
    clock = at;
    handle(event);
  }
  const used = process.cpuUsage(before);
  return { cpuMs: (used.user + used.system) / 1000, frames, bytes, lines };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

function main(): void {
  const settings = options(process.argv.slice(2));
  const machine = describeMachine();
  const stream = generateStream({
    hosts: settings.hosts,
    forks: settings.forks,
    serialShare: settings.serial,
    progressMs: 250,
    compileMs: settings.compileMs,
  });
  const runS = (stream.at(-1)?.at ?? 0) / 1000;
  const controllerS = settings.controllerFixedS + settings.controllerPerHostS * settings.hosts;
  const out = openSync('/dev/null', 'w');
  const views: View[] = ['batches on a terminal', 'batches as log lines', 'plain (a line per result)'];
  // One replay of each first, so the JIT's warm-up is not charged to the first view measured.
  for (const view of views) replay(view, stream, out);
  const rows = views.map((view) => {
    const runs = Array.from({ length: settings.runs }, () => replay(view, stream, out));
    const cpuMs = median(runs.map((run) => run.cpuMs));
    const last = runs.at(-1) as Replay;
    return { ...last, view, cpuMs, share: cpuMs / 1000 / controllerS };
  });
  // A frame's own cost, from the same replay drawn ten times less often: the run the
  // controller really makes lasts longer than the replayed one, and only frames grow with it.
  const sparse = median(
    Array.from(
      { length: settings.runs },
      () => replay('batches on a terminal', stream, out, frameMs * 10).cpuMs,
    ),
  );
  const live = rows[0] as (typeof rows)[number];
  const frameUs = ((live.cpuMs - sparse) * 1000) / (live.frames - Math.ceil(live.frames / 10));
  closeSync(out);
  const events = stream.length;
  const progress = stream.filter(({ event }) => event.event === 'progress').length;
  const print = (line: string) => process.stdout.write(`${line}\n`);
  print(`## Live view at ${settings.hosts} hosts (${machine.date})`);
  print('');
  print(
    `${machine.cpuModel}, ${machine.cores} cores, ${machine.node}; load average ${machine.loadAverage.toFixed(2)} at the start.`,
  );
  print(
    `Replayed: a ${settings.hosts}-host apply, --forks ${settings.forks}, serial ${settings.serial * 100}%: ${events.toLocaleString('en-US')} events (${progress.toLocaleString('en-US')} progress) over ${runS.toFixed(0)} s of run time; median of ${settings.runs} replays.`,
  );
  print(
    `Controller CPU for that run: ${settings.controllerFixedS} s + ${settings.controllerPerHostS} s × ${settings.hosts} hosts = ${controllerS.toFixed(0)} s (from a real apply on the lab).`,
  );
  print('');
  print('| view | renderer CPU | frames | written | share of the controller’s CPU | target ≤ 5 % |');
  print('|---|---|---|---|---|---|');
  for (const row of rows) {
    const written = `${(row.bytes / 1024).toFixed(0)} KiB${row.lines ? `, ${row.lines.toLocaleString('en-US')} lines` : ''}`;
    print(
      `| ${row.view} | ${row.cpuMs.toFixed(0)} ms | ${row.frames || '–'} | ${written} | ${(row.share * 100).toFixed(3)} % | ${row.share <= 0.05 ? 'met' : 'MISSED'} |`,
    );
  }
  print('');
  print(
    `A frame of the terminal view costs about ${frameUs.toFixed(0)} µs (the same replay drawn once a second took ${sparse.toFixed(0)} ms): ten frames a second over an hour's run would be ${((frameUs * 10 * 3600) / 1e6).toFixed(1)} s of CPU.`,
  );
}

main();
