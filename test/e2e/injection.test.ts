import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RunEvent } from '../../src/report/events.js';
import { type Lab, memcachedVersion, resetHost, snapshotHost, writeFleetPlaybook } from '../lab/index.js';
import { readPid } from '../lab/pidfile.js';
import { runMemplay, taskEvents } from './memplay-cli.js';

// Playbook values written to break out of quoting. Every one of them, if a shell
// ever ran it, creates a marker file; none may appear, and the -v log must show
// each value reaching its command as one argument.

const lab = inject('lab') as Lab;
const host1 = () => lab.hosts[0]!;
const marker = `memplay-pwned-${randomBytes(6).toString('hex')}`;
const absoluteMarker = join('/tmp', marker);
// Absolute and relative (the remote user's home, the controller's folder): wherever a shell would start.
const touch = `touch ${absoluteMarker} ${marker}`;

function markersFound(): string[] {
  const places = ['/tmp', host1().home, process.cwd()];
  // Other test runs create and delete files under /tmp meanwhile: find's complaints about those are not findings.
  return places.flatMap((dir) =>
    spawnSync('find', [dir, '-xdev', '-name', `${marker}*`], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean),
  );
}

/** The words /bin/sh makes of `text`, evaluated with `set --`: a broken quote would run the touch here too. */
function shellWords(text: string): string[] {
  const out = execFileSync('/bin/sh', ['-c', `set -- ${text}; printf '%s\\0' "$@"`]);
  return out.toString('utf8').split('\0').slice(0, -1);
}

function commands(events: readonly RunEvent[]) {
  return events.filter((e): e is Extract<RunEvent, { event: 'command' }> => e.event === 'command');
}

describe('hostile playbook values reach the lab hosts as literal arguments, never as shell code', () => {
  beforeAll(async () => {
    await resetHost(lab, 1);
  });
  afterAll(async () => {
    await resetHost(lab, 1);
    expect(markersFound()).toEqual([]);
  });

  it('apply --check -v with a prefix and pidfile full of quotes, $( ), backquotes, ; and *: the probe gets each as one word, nothing runs', async () => {
    const prefix = `${host1().home}/memplay inj 'q' "dq" $(${touch});\`${touch}\` *`;
    const pidfile = `${prefix}/memcached;${touch}.pid`;
    const base = await readFile(await writeFleetPlaybook(lab, { hosts: [1] }), 'utf8');
    const text = base
      .replace(/prefix: .*/, `prefix: ${JSON.stringify(prefix)}`)
      .replace(/pidfile: [^ }]*/, `pidfile: ${JSON.stringify(pidfile)}`);
    expect(text).toContain(JSON.stringify(pidfile));
    const playbook = join(lab.dir, 'playbooks', 'fleet-hostile-prefix.yml');
    await writeFile(playbook, text);
    const before = await snapshotHost(lab, 1);

    const run = await runMemplay(['apply', playbook, '--check', '-v', '--output', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const probes = commands(run.events).filter((c) => c.command.includes(' memplay-probe '));
    expect(probes.length).toBeGreaterThan(0);
    for (const probe of probes) {
      const [, values = ''] = probe.command.split(' memplay-probe ');
      // The third word says whether the probe also reads the platform (the first probe of a run does).
      expect(shellWords(values).slice(0, 2)).toEqual([prefix, pidfile]);
      expect(['platform', 'no-platform']).toContain(shellWords(values)[2]);
      // The fourth is the systemd unit, empty for a pidfile manager; the fifth the target
      // version whose build makes the platform unneeded (the first probe of an upgrade), or empty.
      expect(shellWords(values)[3]).toBe('');
      expect(['1.6.38', '']).toContain(shellWords(values)[4]);
      expect(shellWords(values)).toHaveLength(5);
    }
    expect(taskEvents(run).find((t) => t.task === 'build')?.detail).toContain(`${prefix}/1.6.38`);
    expect(markersFound()).toEqual([]);
    expect(await snapshotHost(lab, 1)).toEqual(before);
  });

  it('a real apply with hostile memcached.args and target.configure: built, started and serving, each value one argv entry of the process, no marker anywhere', async () => {
    const delimiterArg = `:$(${touch});\`${touch}\` 'q' "dq" *`;
    const configureArg = `--with-memplay-probe=$(${touch});\`${touch}\``;
    const playbook = await writeFleetPlaybook(lab, {
      hosts: [1],
      // -D uses only the first character (the stats prefix delimiter), so memcached starts with all of it.
      memcachedArgs: ['-l', '127.0.0.1', '-m', '256', '-D', delimiterArg],
      configure: [configureArg],
    });

    const run = await runMemplay(['apply', playbook, '-v', '--output', 'json']);
    expect(run.code, run.stdout.slice(-4000) + run.stderr).toBe(0);
    expect(await memcachedVersion(host1().memcachedPort)).toBe('1.6.38');

    const configure = commands(run.events).find((c) => c.command.includes('./configure'));
    const [, configureWords = ''] = configure?.command.split('./configure ') ?? [];
    expect(shellWords(configureWords.replace(/ >.*$/, ''))).toContain(configureArg);
    const start = commands(run.events).find((c) => c.command.includes('/current/bin/memcached'));
    expect(shellWords(start?.command ?? '').slice(-2)).toEqual(['-D', delimiterArg]);

    const pid = await readPid(host1().pidfile);
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').slice(0, -1);
    expect(argv.slice(-2)).toEqual(['-D', delimiterArg]);
    expect(markersFound()).toEqual([]);
    expect(existsSync(absoluteMarker)).toBe(false);
  });
});
