import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Lab, memcachedVersion, resetLab, writeFleetPlaybook } from '../lab/index.js';
import { compareDigests, digestItems, generateItems, loopbackConnection } from '../lab/items/generator.js';
import { runMemplay } from './memplay-cli.js';

// The batch view (issue 18) on real hosts: the view a 500-host fleet gets, asked
// for here on three, so the lab can run it. A line per batch, finished batches
// collapsed to their line, the recap after; the data carried exactly as ever.

const lab = inject('lab') as Lab;
const bin = fileURLToPath(new URL('../../bin/memplay.js', import.meta.url));
const run = promisify(execFile);
const esc = String.fromCharCode(27);
/** The live area's erase: cursor up N lines to their start, clear to the end of the screen. */
const erase = new RegExp(`(${esc}\\[\\d+F${esc}\\[0J)`);
const hostIndexes = [1, 2, 3];
/** The time since a batch started, as the view writes it: `42 s`, `2 min 19 s`. */
const elapsed = '(\\d+ min )?\\d+ s';

/** memplay under script(1)'s pseudo-terminal, `rows` lines high; its output without escape codes. */
async function onTerminal(argv: readonly string[], rows: number, env: NodeJS.ProcessEnv) {
  const command = [process.execPath, bin, ...argv].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  const result = await run('script', ['-qec', `stty cols 160 rows ${rows}; ${command}`, '/dev/null'], {
    env,
    maxBuffer: 64 * 1024 * 1024,
  }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code?: number; stdout?: string }) => ({ code: error.code ?? -1, stdout: error.stdout ?? '' }),
  );
  expect(result.code, result.stdout).toBe(0);
  expect(result.stdout.includes(esc), 'the live lines are redrawn in place').toBe(true);
  // What stays on the screen: every erase (cursor up N lines, clear to the end) applied.
  const screen: string[] = [];
  for (const chunk of result.stdout.replaceAll('\r\n', '\n').split(erase)) {
    if (erase.test(chunk)) screen.splice(screen.length - Number(chunk.slice(2, chunk.indexOf('F'))));
    else screen.push(...chunk.split('\n').slice(0, -1));
  }
  return screen;
}

describe('the batch view on the 3-host lab', () => {
  const env = (logRoot: string): NodeJS.ProcessEnv => ({
    ...process.env,
    MEMPLAY_LOG_DIR: logRoot,
    TERM: 'xterm',
    NO_COLOR: '1',
  });

  beforeAll(async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
  });
  afterAll(async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
  });

  it('apply --view batches on a terminal: a line per finished batch, no line per host, and every item carried exactly', async () => {
    const before = new Map<number, Awaited<ReturnType<typeof digestItems>>>();
    for (const i of hostIndexes) {
      const port = lab.hosts[i - 1]!.memcachedPort;
      await generateItems(loopbackConnection(port), {
        seed: 180 + i,
        count: 2_000,
        totalBytes: 2 * 1024 * 1024,
      });
      before.set(i, await digestItems(loopbackConnection(port)));
    }
    const playbook = await writeFleetPlaybook(lab, { hosts: hostIndexes });
    const logRoot = await mkdtemp(join(tmpdir(), 'memplay-runs-'));
    const screen = await onTerminal(['apply', playbook, '--view', 'batches'], 40, env(logRoot));

    const batchLines = screen.filter((line) => / batch \d+\/\d+/.test(line));
    expect(batchLines).toHaveLength(4);
    // The build is kept from an earlier run or not: ok or changed, never failed or unfinished.
    expect(batchLines[0]).toMatch(
      new RegExp(`^prepare batch 1/1 done · 3 hosts · (\\d ok · )?(\\d changed · )?${elapsed}$`),
    );
    for (const [n, line] of batchLines.slice(1).entries())
      expect(line).toMatch(new RegExp(`^rolling batch ${n + 1}/3 done · 1 host · 1 changed · ${elapsed}$`));
    // The live lines are gone, and no host has a line of its own until the recap.
    const recapAt = screen.findIndex((line) => line.startsWith('RECAP'));
    expect(recapAt).toBe(4);
    for (const host of ['host1', 'host2', 'host3'])
      expect(screen.filter((line) => line.startsWith(`${host} `))).toEqual([
        expect.stringMatching(
          new RegExp(`^${host} +: ok=\\d+  changed=\\d+  unreachable=0  failed=0  skipped=0`),
        ),
      ]);

    for (const i of hostIndexes) {
      const port = lab.hosts[i - 1]!.memcachedPort;
      expect(await memcachedVersion(port)).toBe('1.6.38');
      expect(compareDigests(before.get(i)!, await digestItems(loopbackConnection(port))), `host${i}`).toEqual(
        [],
      );
    }
  }, 900_000);

  it('auto: three hosts that do not fit a 5-row terminal a line each get the batch view', async () => {
    const playbook = await writeFleetPlaybook(lab, { hosts: hostIndexes });
    const logRoot = await mkdtemp(join(tmpdir(), 'memplay-runs-'));
    const screen = await onTerminal(['backup', playbook], 5, env(logRoot));
    expect(screen.filter((line) => / batch \d+\/\d+/.test(line))).toEqual([
      expect.stringMatching(new RegExp(`^backup batch 1/1 done · 3 hosts · 3 changed · ${elapsed}$`)),
    ]);
  }, 300_000);

  it('--output plain --view batches off a terminal: lines only, the batch’s hosts, then its line', async () => {
    const playbook = await writeFleetPlaybook(lab, { hosts: hostIndexes });
    const backup = await runMemplay(['backup', playbook, '--output', 'plain', '--view', 'batches']);
    expect(backup.code, backup.stdout + backup.stderr).toBe(0);
    expect(backup.stdout.includes(esc)).toBe(false);
    const lines = backup.stdout.split('\n');
    const batchLines = lines.filter((line) => line.startsWith('backup batch 1/1 '));
    expect(batchLines[0]).toBe('backup batch 1/1 · 3 hosts: host1, host2, host3');
    expect(batchLines.at(-1)).toMatch(
      new RegExp(`^backup batch 1/1 done · 3 hosts · 3 changed · ${elapsed}$`),
    );
    // A slow backup gets its counts again (every 10 s at most, test/unit/batch-view.test.ts), no host's progress.
    for (const line of batchLines.slice(1, -1))
      expect(line).toMatch(new RegExp(`^backup batch 1/1 · 3 hosts · .* · ${elapsed}$`));
    // No line per host result: the hosts appear again only in the recap.
    expect(lines.filter((line) => /^host\d /.test(line) && !line.includes(': ok='))).toEqual([]);
  }, 300_000);
});
