import { sh } from '../transport/quote.js';
import type { TaskContext } from './task.js';

// make runs as one remote command whose output goes to the build log, so its
// progress is read from that log: every compile line automake echoes holds
// ` -c -o `. `make -n` on the configured tree counts the same lines up front,
// which gives the total. A count that cannot be had leaves the phase uncounted,
// never the build failed.

const compileLine = ' -c -o ';
const pollMs = 3_000;

async function countLines(ctx: TaskContext, command: ReturnType<typeof sh>): Promise<number | undefined> {
  const result = await ctx.transport.run(command).catch(() => undefined);
  const count = Number.parseInt(result?.stdout.trim() ?? '', 10);
  return Number.isFinite(count) ? count : undefined;
}

/** Runs `make target` (the `run` callback) while reporting `make · 12/63 files` from `log`. */
export async function withCompileCount(
  ctx: TaskContext,
  srcDir: string,
  log: string,
  target: string,
  run: () => Promise<void>,
): Promise<void> {
  const total = await countLines(
    ctx,
    sh`cd ${srcDir} && make -n ${target} 2>/dev/null | grep -c -e ${compileLine}`,
  );
  // The log already holds configure's output: count only what make adds after it.
  const before = (await countLines(ctx, sh`grep -c -e ${compileLine} ${log}`)) ?? 0;
  const report = (done: number) =>
    ctx.progress('make', {
      items: done,
      unit: 'files',
      ...(total ? { itemsTotal: Math.max(total, done) } : {}),
    });
  report(0);
  let finished = false;
  const making = run().finally(() => {
    finished = true;
  });
  const polling = (async () => {
    while (!finished) {
      await Promise.race([making.catch(() => {}), new Promise((resolve) => setTimeout(resolve, pollMs))]);
      if (finished) return;
      const seen = await countLines(ctx, sh`grep -c -e ${compileLine} ${log}`);
      if (seen !== undefined && !finished) report(seen - before);
    }
  })();
  try {
    await making;
  } finally {
    await polling;
  }
  const seen = await countLines(ctx, sh`grep -c -e ${compileLine} ${log}`);
  if (seen !== undefined) report(seen - before);
}
