import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMemplay } from '../e2e/memplay-cli.js';
import { type ContactCounter, startContactCounter } from './contact-counter.js';

// --list-hosts and strategy.confirm_between_batches' refusal, through the built CLI.
// Every host logs in at a counting listener: a run that contacts one is counted.

const env = { SSH_AUTH_SOCK: '/nonexistent/memplay-test-agent.sock' };
// Each test spawns the CLI, some several times: a busy machine needs more than the default 5 s.
const spawnTimeout = 60_000;

let counter: ContactCounter;
let dir: string;
// A stand-in for the tarball: apply checks the file against its sha256 before contacting any host.
const tarball = Buffer.from('not really memcached');
const tarballSha256 = createHash('sha256').update(tarball).digest('hex');

beforeAll(async () => {
  counter = await startContactCounter();
  dir = await mkdtemp(join(tmpdir(), 'memplay-rollout-'));
  await writeFile(join(dir, 'memcached-1.6.38.tar.gz'), tarball);
});

afterAll(async () => {
  await counter.close();
  await rm(dir, { recursive: true, force: true });
});

/** A 3-host playbook whose hosts are the counter, with `strategy` as given. */
async function playbook(name: string, strategy: string): Promise<string> {
  const file = join(dir, `${name}.yml`);
  await writeFile(
    file,
    `name: rollout
target:
  version: "1.6.38"
  source:
    path: memcached-1.6.38.tar.gz
    sha256: ${tarballSha256}
defaults:
  ssh: { port: ${counter.port} }
strategy:
${strategy}
backup:
  dir: ./backups-${name}
hosts:
  host1: { address: 127.0.0.1 }
  host2: { address: 127.0.0.2 }
  host3: { address: 127.0.0.3 }
groups:
  west: [host2, host3]
`,
  );
  return file;
}

/** Runs memplay; `contacted` is how many connections the hosts received meanwhile. */
async function run(args: readonly string[]) {
  const before = counter.contacts.length;
  // facts writes no run log, and has no --log-dir.
  const logDir = args[0] === 'facts' ? [] : ['--log-dir', join(dir, 'runs')];
  const result = await runMemplay([...args, ...logDir], env);
  return { ...result, contacted: counter.contacts.length - before };
}

describe('--list-hosts', () => {
  it(
    'apply: the hosts in batch order ([1, "100%"]: host1 | host2, host3), nothing contacted or created',
    async () => {
      const file = await playbook('list', '  serial: [1, "100%"]');
      const listed = await run(['apply', file, '--list-hosts']);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout.trim().split('\n')).toEqual([
        'hosts (3) in 2 batches:',
        '  batch 1 of 2: host1',
        '  batch 2 of 2: host2, host3',
      ]);
      expect(listed.contacted).toBe(0);
      expect(existsSync(join(dir, 'backups-list'))).toBe(false);
      expect(existsSync(join(dir, 'runs'))).toBe(false);
    },
    spawnTimeout,
  );

  it(
    'with --limit and -o json: one JSON object, the batches sized against the selection',
    async () => {
      const file = await playbook('list-json', '  serial: [1, "100%"]');
      const listed = await run(['rollback', file, '--list-hosts', '--limit', 'west', '-o', 'json']);
      expect(listed.code, listed.stderr).toBe(0);
      expect(
        listed.stdout
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line)),
      ).toEqual([
        // With the envelope every JSON line carries (schemas/events.schema.json).
        {
          event: 'list-hosts',
          schema: 1,
          ts: expect.any(String),
          run_id: expect.any(String),
          playbook: file,
          hosts: ['host2', 'host3'],
          batches: [['host2'], ['host3']],
        },
      ]);
      expect(listed.contacted).toBe(0);
    },
    spawnTimeout,
  );

  it(
    'facts and backup work on every host at once: the hosts, without batches (one in JSON)',
    async () => {
      const file = await playbook('list-fleet', '  serial: 1');
      const facts = await run(['facts', file, '--list-hosts', '--limit', '!host2']);
      expect(facts.code, facts.stderr).toBe(0);
      expect(facts.stdout.trim().split('\n')).toEqual(['hosts (2):', '  host1', '  host3']);
      const backup = await run(['backup', file, '--list-hosts', '-o', 'json']);
      expect(JSON.parse(backup.stdout)).toMatchObject({ batches: [['host1', 'host2', 'host3']] });
      expect(facts.contacted + backup.contacted).toBe(0);
    },
    spawnTimeout,
  );

  it(
    'a --limit that selects nothing is still the usage error it always was (exit 5)',
    async () => {
      const file = await playbook('list-bad-limit', '  serial: 1');
      const listed = await run(['apply', file, '--list-hosts', '--limit', 'east']);
      expect(listed.code).toBe(5);
      expect(listed.stderr).toContain('--limit "east" matches no host or group');
    },
    spawnTimeout,
  );
});

describe('strategy.confirm_between_batches off a terminal', () => {
  it(
    'without --yes: refused before any host is contacted, exit 5, saying what to do',
    async () => {
      const file = await playbook('confirm', '  serial: [1, "100%"]\n  confirm_between_batches: true');
      const refused = await run(['apply', file, '--output', 'json']);
      expect(refused.code).toBe(5);
      expect(refused.stderr).toBe(
        'memplay: strategy.confirm_between_batches asks before each batch after the first, and stdin is not a terminal to ask on: ' +
          'run memplay from a terminal, or add --yes to start every batch without asking; no host was contacted\n',
      );
      // -o json: the refusal is also the one JSON line, for a program.
      expect(JSON.parse(refused.stdout)).toMatchObject({ event: 'error', kind: 'usage', exit_code: 5 });
      expect(refused.contacted).toBe(0);
      expect(existsSync(join(dir, 'backups-confirm', 'journal.jsonl'))).toBe(false);
    },
    spawnTimeout,
  );

  it(
    'with --yes, or with --check (which asks nothing), or when the hosts make one batch, the run starts',
    async () => {
      const file = await playbook('confirm-go', '  serial: [1, "100%"]\n  confirm_between_batches: true');
      for (const args of [
        ['apply', file, '--yes'],
        ['apply', file, '--check'],
        ['rollback', file, '--limit', 'host1'],
      ]) {
        const started = await run([...args, '--output', 'json']);
        // The counter closes every connection: the hosts are unreachable, but they were contacted.
        expect(started.code, `${args.join(' ')}\n${started.stderr}`).toBe(3);
        expect(started.contacted, args.join(' ')).toBeGreaterThan(0);
      }
    },
    spawnTimeout,
  );
});
