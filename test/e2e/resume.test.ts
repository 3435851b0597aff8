import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { RunEvent } from '../../src/report/events.js';
import { type Lab, memcachedVersion, resetLab, writeFleetPlaybook } from '../lab/index.js';
import { compareDigests, digestItems, generateItems } from '../lab/items/generator.js';
import { runMemplay, taskEvents } from './memplay-cli.js';

const lab = inject('lab') as Lab;
const bin = fileURLToPath(new URL('../../bin/memplay.js', import.meta.url));

const direct = (port: number) => () =>
  new Promise<Duplex>((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });

/** Runs apply and SIGKILLs memplay the moment it reports `task` done with status `status`. */
function applyKilledAfter(playbook: string, task: string): Promise<RunEvent[]> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, 'apply', playbook, '--output', 'json']);
    const events: RunEvent[] = [];
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const event = JSON.parse(line) as RunEvent;
        events.push(event);
        if (event.event === 'task' && event.task === task) child.kill('SIGKILL');
      }
    });
    child.on('close', () => resolve(events));
  });
}

describe('a run killed between swap and restore', () => {
  beforeAll(async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
  });

  it('memplay SIGKILLed right after swap: the re-run restores the backup it left, every item exact, and a third run restores nothing again', async () => {
    const port = lab.hosts[0]!.memcachedPort;
    await generateItems(direct(port), { seed: 11, count: 30_000, totalBytes: 40 * 1024 * 1024 });
    const original = await digestItems(direct(port));
    const playbook = await writeFleetPlaybook(lab, { hosts: [1] });

    const killed = await applyKilledAfter(playbook, 'swap');
    expect(killed.some((e) => e.event === 'task' && e.task === 'swap' && e.status === 'changed')).toBe(true);
    expect(killed.some((e) => e.event === 'recap')).toBe(false);
    expect(await memcachedVersion(port)).toBe('1.6.38');
    expect((await digestItems(direct(port))).size).toBeLessThan(original.size);

    const check = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(check.code).toBe(0);
    expect(taskEvents(check).find((t) => t.task === 'restore')?.detail).toMatch(
      /^restore 30,000 items \/ [\d.]+ MiB that an interrupted run backed up from 1\.6\.18 and never restored: /,
    );

    const rerun = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(rerun.code, rerun.stdout + rerun.stderr).toBe(0);
    const tasks = taskEvents(rerun);
    expect(tasks.find((t) => t.task === 'backup')?.detail).toBe('already running 1.6.38: nothing to back up');
    expect(tasks.find((t) => t.task === 'restore')?.detail).toMatch(/^restored [\d,]+ items/);
    expect(tasks.find((t) => t.task === 'restore')?.status).toBe('changed');
    expect(compareDigests(original, await digestItems(direct(port)))).toEqual([]);
    expect(tasks.find((t) => t.task === 'verify')?.detail).toContain('sampled items match the backup');

    const third = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(third.code).toBe(0);
    expect(taskEvents(third).find((t) => t.task === 'restore')?.detail).toBe(
      'no backup taken in this run: nothing to restore',
    );
  });
});
