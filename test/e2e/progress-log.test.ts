import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RunEvent } from '../../src/report/events.js';
import { type Lab, resetLab, writeFleetPlaybook } from '../lab/index.js';
import { type GeneratedSet, generateItems, loopbackConnection } from '../lab/items/generator.js';
import { recapOf, runMemplay } from './memplay-cli.js';

const lab = inject('lab') as Lab;
const bin = fileURLToPath(new URL('../../bin/memplay.js', import.meta.url));
const run = promisify(execFile);
const esc = String.fromCharCode(27);
/** An SGR sequence: a color or a text style (cursor movement is not one). */
const sgr = new RegExp(`${esc}\\[[0-9;]*m`);

type Progress = Extract<RunEvent, { event: 'progress' }>;
type Command = Extract<RunEvent, { event: 'command' }>;

// The secret: a value that really reaches remote commands (memcached's arguments),
// so the run log has something to redact. murmur3 is memcached's default hash anyway.
const secret = 'murmur3';
const args = ['-l', '127.0.0.1', '-m', '256', '-o', `hash_algorithm=${secret}`];

function progressOf(events: readonly RunEvent[], host: string, task: string, phase: string): Progress[] {
  return events.filter(
    (e): e is Progress => e.event === 'progress' && e.host === host && e.task === task && e.phase === phase,
  );
}

/** commands.log's entries as host, exit status and command, in order. */
function loggedCommands(text: string) {
  return [...text.matchAll(/^=== \S+ (\S+) exit=(-?\d+) duration_ms=\d+\n\$ (.*)$/gm)].map((m) => ({
    host: m[1],
    code: Number(m[2]),
    command: m[3],
  }));
}

async function onlyFolder(root: string): Promise<string> {
  const entries = await readdir(root);
  expect(entries).toHaveLength(1);
  return join(root, entries[0] as string);
}

/** The live view as a terminal gets it: memplay under script(1)'s pseudo-terminal, `rows` lines high. */
async function onTerminal(argv: readonly string[], rows: number, env: NodeJS.ProcessEnv) {
  const command = [process.execPath, bin, ...argv].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  // script -e passes memplay's exit status on; a failure is reported with what the terminal showed.
  const result = await run('script', ['-qec', `stty cols 160 rows ${rows}; ${command}`, '/dev/null'], {
    env,
    maxBuffer: 64 * 1024 * 1024,
  }).then(
    ({ stdout }) => ({ code: 0, stdout }),
    (error: { code?: number; stdout?: string }) => ({ code: error.code ?? -1, stdout: error.stdout ?? '' }),
  );
  expect(result.code, result.stdout).toBe(0);
  return result.stdout;
}

describe('live progress and the run log on the 3-host lab', () => {
  const generated: GeneratedSet[] = [];

  beforeAll(async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
    for (const [i, host] of lab.hosts.slice(0, 3).entries()) {
      generated.push(
        await generateItems(loopbackConnection(host.memcachedPort), {
          seed: 60 + i,
          count: 3_000 + 500 * i,
          totalBytes: (2 + i) * 1024 * 1024,
        }),
      );
    }
  });
  afterAll(async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
  });

  it('apply --output json -v: backup and restore progress counts reach the data set; the run log holds every command with its exit status and the same events as stdout, the secret redacted', async () => {
    const logRoot = await mkdtemp(join(tmpdir(), 'memplay-runs-'));
    const playbook = await writeFleetPlaybook(lab, { hosts: [1, 2, 3], memcachedArgs: args });
    const apply = await runMemplay(['apply', playbook, '--output', 'json', '-v', '--log-dir', logRoot], {
      MEMPLAY_BECOME_PASSWORD: secret,
    });
    expect(apply.code, apply.stdout + apply.stderr).toBe(0);
    expect(Object.values(recapOf(apply)).every((h) => h.failed === 0)).toBe(true);

    for (const [i, host] of ['host1', 'host2', 'host3'].entries()) {
      const data = generated[i] as GeneratedSet;
      const backup = progressOf(apply.events, host, 'backup', 'full pass');
      expect(backup.length, `${host} backup: no full-pass progress`).toBeGreaterThan(0);
      const items = backup.map((p) => p.items as number);
      expect(items, `${host} backup: counts go backwards`).toEqual([...items].sort((a, b) => a - b));
      const lastBackup = backup.at(-1) as Progress;
      // Totals from memcached's stats: curr_items exactly, `bytes` above the value bytes (keys, headers).
      expect(lastBackup, `${host} backup`).toMatchObject({ items: data.count, items_total: data.count });
      expect(lastBackup.bytes, `${host} backup bytes`).toBe(data.valueBytes);
      expect(lastBackup.bytes_total as number).toBeGreaterThanOrEqual(data.valueBytes);
      expect(lastBackup.message).toMatch(/^full pass · [\d,]+\/[\d,]+ items · [\d.]+\/[\d.]+ MiB$/);

      const restore = progressOf(apply.events, host, 'restore', 'restore');
      expect(restore.length, `${host} restore: no counted progress`).toBeGreaterThan(0);
      expect(restore.at(-1), `${host} restore`).toMatchObject({
        items: data.count,
        items_total: data.count,
        bytes: data.valueBytes,
        bytes_total: data.valueBytes,
      });
      // Every progress event comes before its task's result.
      const resultAt = apply.events.findIndex(
        (e) => e.event === 'task' && e.host === host && e.task === 'restore',
      );
      expect(apply.events.indexOf(restore.at(-1) as Progress)).toBeLessThan(resultAt);
    }

    const recap = apply.events.find((e) => e.event === 'recap') as Extract<RunEvent, { event: 'recap' }>;
    const folder = await onlyFolder(logRoot);
    expect(recap.log).toBe(folder);
    expect((await stat(folder)).mode & 0o777).toBe(0o700);
    for (const file of ['events.jsonl', 'commands.log'])
      expect((await stat(join(folder, file))).mode & 0o777, file).toBe(0o600);

    const eventsFile = await readFile(join(folder, 'events.jsonl'), 'utf8');
    const stdoutEvents = apply.stdout.split('\n').filter((line) => line.startsWith('{'));
    expect(eventsFile).toBe(`${stdoutEvents.join('\n')}\n`);

    const commandsFile = await readFile(join(folder, 'commands.log'), 'utf8');
    const commands = apply.events.filter((e): e is Command => e.event === 'command');
    expect(commands.length).toBeGreaterThan(30);
    expect(loggedCommands(commandsFile)).toEqual(
      commands.map((c) => ({ host: c.host, code: c.code, command: c.command.split('\n')[0] })),
    );
    // memcached was started with the secret in its arguments: the log shows where, never what.
    expect(commandsFile).toContain('hash_algorithm=[redacted $MEMPLAY_BECOME_PASSWORD]');
    for (const [name, text] of [
      ['stdout', apply.stdout] as const,
      ['stderr', apply.stderr],
      ['events.jsonl', eventsFile],
      ['commands.log', commandsFile],
    ])
      expect(text.includes(secret), `${name} holds the secret`).toBe(false);
  }, 900_000);

  it('--check without --output off a terminal: plain lines, no escape codes, and a run log too', async () => {
    const logRoot = await mkdtemp(join(tmpdir(), 'memplay-runs-'));
    const playbook = await writeFleetPlaybook(lab, { hosts: [1, 2, 3] });
    const check = await runMemplay(['apply', playbook, '--check'], { MEMPLAY_LOG_DIR: logRoot });
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stdout.includes(esc)).toBe(false);
    expect(check.stdout).toMatch(/^host1 version_check ok: /m);
    const folder = await onlyFolder(logRoot);
    expect(check.stdout).toContain(`\nlog: ${folder}\n`);
    const events = (await readFile(join(folder, 'events.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as RunEvent);
    expect(events[0]).toMatchObject({ event: 'start', check: true });
    expect(events.at(-1)).toMatchObject({ event: 'recap', log: folder });
    // --check connects and probes: its read-only commands are in the log as well, for every host.
    const probed = loggedCommands(await readFile(join(folder, 'commands.log'), 'utf8'));
    expect(new Set(probed.map((c) => c.host))).toEqual(new Set(['host1', 'host2', 'host3']));
    expect(probed.every((c) => c.code === 0)).toBe(true);
  });

  it('on a terminal: the listr2 view, nested when it fits, a line per host when it does not; NO_COLOR drops every color', async () => {
    const logRoot = await mkdtemp(join(tmpdir(), 'memplay-runs-'));
    const playbook = await writeFleetPlaybook(lab, { hosts: [1, 2, 3] });
    const env: NodeJS.ProcessEnv = { ...process.env, MEMPLAY_LOG_DIR: logRoot, TERM: 'xterm' };
    delete env.NO_COLOR;

    const colored = await onTerminal(['backup', playbook], 40, env);
    expect(colored).toMatch(sgr);
    // Nested: each host's tasks are lines of their own.
    expect(colored).toMatch(/backup changed: full pass 3,000 items/);
    expect(colored).toMatch(/RECAP/);

    const plain = await onTerminal(['backup', playbook], 10, { ...env, NO_COLOR: '1' });
    expect(plain).not.toMatch(sgr);
    // 3 hosts × 3 lines do not fit 10 rows: one line per host, ending with how it went.
    for (const host of ['host1', 'host2', 'host3'])
      expect(plain).toMatch(new RegExp(`${host} done: 1 changed`));
    // A terminal ends lines with \r\n.
    expect(plain).toMatch(/\nlog: \S+\r?\n/);
    expect(await readdir(logRoot)).toHaveLength(2);
  });
});
