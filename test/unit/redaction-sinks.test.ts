// Issue 17 item 13: one redaction for every sink (views and run log through events, the
// journal), every secret the playbook names, and no secret too short to redact.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runRedaction } from '../../src/cli/run-job.js';
import { openJournal } from '../../src/engine/journal.js';
import { authVariableProblems } from '../../src/playbook/auth-variables.js';
import { parsePlaybookText } from '../../src/playbook/load.js';
import { shortSecretProblems } from '../../src/playbook/secret-lengths.js';
import type { HostConfig } from '../../src/playbook/types.js';
import { childEnvironment } from '../../src/transport/local.js';
import { head, resolveText } from '../support/playbook-helpers.js';

const scratch = mkdtempSync(join(tmpdir(), 'memplay-redaction-sinks-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const withAuth = `${head}defaults:
  become: true
  memcached:
    auth: { user_env: CACHE_USER, password_env: CACHE_PASSWORD }
hosts:
  host1:
    address: 10.0.0.1
`;

function hostsOf(text: string): {
  hosts: HostConfig[];
  source: NonNullable<ReturnType<typeof parsePlaybookText>['source']>;
} {
  const source = parsePlaybookText('/fleet/fleet.yml', text).source;
  if (!source) throw new Error('no source');
  return { hosts: [...resolveText(text, '/fleet/fleet.yml').hosts], source };
}

describe('one redaction for every sink', () => {
  it("takes out the value of the variable memcached.auth.password_env names, not only memplay's own", () => {
    const { hosts } = hostsOf(withAuth);
    const redact = runRedaction(hosts, { CACHE_PASSWORD: 'hunter22-cache', CACHE_USER: 'cacheuser' });
    expect(redact.text('AUTH rejected: cacheuser hunter22-cache')).toBe(
      'AUTH rejected: cacheuser [redacted $CACHE_PASSWORD]',
    );
  });

  it("the journal writes a task's detail (a command's output tail) through the run's redaction", () => {
    const { hosts } = hostsOf(withAuth);
    const redact = runRedaction(hosts, {
      CACHE_PASSWORD: 'hunter22-cache',
      MEMPLAY_BECOME_PASSWORD: 'sudo-secret',
    });
    const folder = join(scratch, 'backups');
    const journal = openJournal(folder, 'run-1', redact.value);
    journal?.append({
      entry: 'task',
      host: 'host1',
      task: 'swap',
      status: 'failed',
      detail: 'sudo: echo sudo-secret | … memcached -A hunter22-cache exited 1',
    });
    journal?.close();
    const written = readFileSync(join(folder, 'journal.jsonl'), 'utf8');
    expect(written).not.toContain('sudo-secret');
    expect(written).not.toContain('hunter22-cache');
    expect(JSON.parse(written).detail).toBe(
      'sudo: echo [redacted $MEMPLAY_BECOME_PASSWORD] | … memcached -A [redacted $CACHE_PASSWORD] exited 1',
    );
  });
});

describe('a secret too short to redact is refused before any host is contacted', () => {
  it('a one-character MEMPLAY_BECOME_PASSWORD (which would turn 1.6.38 into [redacted].6.38) is refused at become', () => {
    const { hosts, source } = hostsOf(withAuth);
    const problems = shortSecretProblems(source, hosts, {
      MEMPLAY_BECOME_PASSWORD: '1',
      MEMPLAY_LOG_DIR: '/x',
    });
    expect(problems).toEqual([
      {
        file: '/fleet/fleet.yml',
        line: 8,
        col: 11,
        message:
          'the environment variable MEMPLAY_BECOME_PASSWORD holds a secret of 1 character, shorter than the 6 ' +
          'memplay can keep out of its output; set a longer one (or unset MEMPLAY_BECOME_PASSWORD) before running memplay',
      },
    ]);
    expect(shortSecretProblems(source, hosts, { MEMPLAY_BECOME_PASSWORD: 'longer' })).toEqual([]);
  });

  it('a short memcached password is refused at password_env, naming the variable and never the value', async () => {
    const { hosts, source } = hostsOf(withAuth);
    const problems = await authVariableProblems(source, hosts, {
      CACHE_USER: 'cacheuser',
      CACHE_PASSWORD: 'pw',
    });
    expect(problems).toHaveLength(1);
    expect(problems[0]?.message).toContain(
      'CACHE_PASSWORD holds a password of 2 characters, shorter than the 6',
    );
    expect(problems[0]?.message).not.toContain("'pw'");
  });
});

describe("a local host's commands get only the variables they need", () => {
  it('PATH, HOME, the locale and the like pass; memplay secrets and other variables do not', () => {
    expect(
      childEnvironment({
        PATH: '/usr/bin:/bin',
        HOME: '/root',
        LANG: 'C.UTF-8',
        LC_ALL: 'C',
        MEMPLAY_BECOME_PASSWORD: 'sudo-secret',
        MEMPLAY_SSH_PASSPHRASE: 'key-phrase',
        CACHE_PASSWORD: 'hunter22-cache',
        AWS_SECRET_ACCESS_KEY: 'aws',
      }),
    ).toEqual({ PATH: '/usr/bin:/bin', HOME: '/root', LANG: 'C.UTF-8', LC_ALL: 'C' });
  });
});
