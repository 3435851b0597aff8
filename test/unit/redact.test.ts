import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunEvent } from '../../src/report/events.js';
import { redactEvent, redactor, secretsIn } from '../../src/report/redact.js';
import { commandEntry, openRunLog, runFolderName } from '../../src/report/run-log.js';

const scratch = mkdtempSync(join(tmpdir(), 'memplay-runlog-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('redaction', () => {
  it('takes the credential variables memplay reads, and any MEMPLAY_ variable named like a secret', () => {
    const secrets = secretsIn({
      MEMPLAY_BECOME_PASSWORD: 'sudo-pw',
      MEMPLAY_SSH_PASSPHRASE: 'key phrase',
      MEMPLAY_S3_SECRET_KEY: 's3cr3t',
      MEMPLAY_API_TOKEN: 'tok',
      MEMPLAY_LOG_DIR: '/tmp/logs',
      MEMPLAY_LAB_OFFSET: '75',
      HOME: '/root',
      MEMPLAY_EMPTY_PASSWORD: '',
    });
    expect(secrets.map((s) => s.variable).sort()).toEqual([
      'MEMPLAY_API_TOKEN',
      'MEMPLAY_BECOME_PASSWORD',
      'MEMPLAY_S3_SECRET_KEY',
      'MEMPLAY_SSH_PASSPHRASE',
    ]);
  });

  it('replaces every occurrence, a longer secret holding a shorter one whole', () => {
    const redact = redactor(secretsIn({ MEMPLAY_BECOME_PASSWORD: 'abc', MEMPLAY_SSH_PASSPHRASE: 'xxabcxx' }));
    expect(redact('echo abc; key=xxabcxx; abcabc')).toBe(
      'echo [redacted $MEMPLAY_BECOME_PASSWORD]; key=[redacted $MEMPLAY_SSH_PASSPHRASE]; [redacted $MEMPLAY_BECOME_PASSWORD][redacted $MEMPLAY_BECOME_PASSWORD]',
    );
  });

  it('redacts every string of an event and leaves numbers numbers, even when the secret is digits', () => {
    const secrets = secretsIn({ MEMPLAY_BECOME_PASSWORD: '4093' });
    const event: RunEvent = {
      event: 'command',
      host: 'host1',
      command: 'memcached -c 4093',
      code: 0,
      duration_ms: 14093,
      stdout: 'maxconns 4093\n',
      stderr: '',
    };
    expect(redactEvent(event, secrets)).toEqual({
      ...event,
      command: 'memcached -c [redacted $MEMPLAY_BECOME_PASSWORD]',
      stdout: 'maxconns [redacted $MEMPLAY_BECOME_PASSWORD]\n',
    });
    const recap: RunEvent = {
      event: 'recap',
      hosts: { host1: { ok: 1, changed: 0, failed: 0, skipped: 0, unreachable: false } },
      interrupted: false,
      journal: '/b/4093/journal.jsonl',
      controller_peak_rss_bytes: 4093,
      log: null,
    };
    expect(redactEvent(recap, secrets)).toEqual({
      ...recap,
      journal: '/b/[redacted $MEMPLAY_BECOME_PASSWORD]/journal.jsonl',
    });
    expect(redactEvent(event, [])).toBe(event);
  });
});

describe('run log', () => {
  const command: Extract<RunEvent, { event: 'command' }> = {
    event: 'command',
    host: 'host2',
    command: "sh -c 'make'",
    code: 2,
    duration_ms: 31,
    stdout: 'out line\n',
    stderr: 'err line\n',
  };

  it('names the folder in ISO 8601 basic format: sortable, no colon', () => {
    expect(runFolderName(new Date('2026-11-29T09:36:18.123Z'))).toBe('20261129T093618.123Z');
  });

  it('writes a command with host, exit status, duration and both outputs', () => {
    expect(commandEntry(command, new Date('2026-11-29T09:36:18.123Z'))).toBe(
      "=== 2026-11-29T09:36:18.123Z host2 exit=2 duration_ms=31\n$ sh -c 'make'\n--- stdout\nout line\n--- stderr\nerr line\n",
    );
  });

  it('creates the folder 0700 and its files 0600, events as JSON lines, commands in commands.log', () => {
    const at = new Date('2026-11-29T09:36:18.123Z');
    const warnings: string[] = [];
    const log = openRunLog(
      join(scratch, 'runs'),
      (w) => warnings.push(w),
      () => at,
    );
    expect(log).toBeDefined();
    const second = openRunLog(
      join(scratch, 'runs'),
      (w) => warnings.push(w),
      () => at,
    );
    expect(second?.dir).toBe(`${log?.dir}-2`);
    second?.close();
    const start: RunEvent = { event: 'aborted', reason: 'test' };
    log?.record(start);
    log?.record(command);
    log?.close();
    const dir = log?.dir as string;
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(scratch, 'runs')).mode & 0o777).toBe(0o700);
    for (const file of ['events.jsonl', 'commands.log'])
      expect(statSync(join(dir, file)).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'events.jsonl'), 'utf8')).toBe(
      `${JSON.stringify(start)}\n${JSON.stringify(command)}\n`,
    );
    expect(readFileSync(join(dir, 'commands.log'), 'utf8')).toBe(commandEntry(command, at));
    expect(warnings).toEqual([]);
  });

  it('a log folder that cannot be made warns once, names the fix, and returns no log', () => {
    const file = join(scratch, 'a-file');
    writeFileSync(file, '');
    const warnings: string[] = [];
    expect(openRunLog(join(file, 'runs'), (w) => warnings.push(w))).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /cannot write the run log under .*a-file\/runs .*the run goes on without it — set --log-dir or MEMPLAY_LOG_DIR/,
    );
  });

  it('a log that stops being writable mid-run warns once and drops the rest', () => {
    const warnings: string[] = [];
    const log = openRunLog(join(scratch, 'full'), (w) => warnings.push(w));
    log?.close(); // every later write fails with EBADF, as a full disk would fail it
    log?.record(command);
    log?.record(command);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/stopped being written .*the run goes on without it/);
  });
});
