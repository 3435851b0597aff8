import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pidfileStop } from '../../src/service/service.js';

// The pidfile manager's stop, run as the swap runs it (`sh -c`), against real
// processes: it waits until the process is gone or a zombie, removes the
// pidfile, and reports a process that outlives its timeout.

let dir: string;
const started: ChildProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memplay-stop-'));
});

afterEach(async () => {
  for (const child of started.splice(0)) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

function run(text: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', text], (error, _stdout, stderr) => {
      resolve({ code: error ? Number(error.code ?? 1) : 0, stderr });
    });
  });
}

function start(script: string): ChildProcess {
  const child = spawn('sh', ['-c', script], { stdio: 'ignore' });
  started.push(child);
  return child;
}

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

describe('the pidfile stop', () => {
  it('stops the process with SIGTERM, waits until it is gone and removes the pidfile', async () => {
    const pidfile = join(dir, 'm.pid');
    // Takes 0.7 s to exit after SIGTERM: the wait outlasts the first half second's quick steps.
    const child = start('trap "sleep 0.7; exit 0" TERM; while :; do sleep 0.05; done');
    await writeFile(pidfile, `${child.pid}\n`);
    await sleep(100);
    expect(await run(pidfileStop(pidfile).text)).toEqual({ code: 0, stderr: '' });
    expect(gone(child.pid as number)).toBe(true);
    await expect(readFile(pidfile)).rejects.toThrow(/ENOENT/);
  });

  it('counts a zombie as gone: a daemon whose parent has not reaped it yet', async () => {
    const pidfile = join(dir, 'm.pid');
    // The shell starts a child, then becomes a sleep that never reaps it.
    const parent = start(`sleep 0.1 & echo $! > ${pidfile}; exec sleep 30`);
    await sleep(500);
    const zombie = Number((await readFile(pidfile, 'utf8')).trim());
    expect((await readFile(`/proc/${zombie}/stat`, 'utf8')).split(') ')[1]?.[0]).toBe('Z');
    expect(await run(pidfileStop(pidfile).text)).toEqual({ code: 0, stderr: '' });
    expect(gone(parent.pid as number)).toBe(false);
  });

  it('reports a process still running when the timeout is up, and leaves its pidfile', async () => {
    const pidfile = join(dir, 'm.pid');
    const child = start('trap "" TERM; while :; do sleep 0.05; done');
    await writeFile(pidfile, `${child.pid}\n`);
    await sleep(100);
    const result = await run(pidfileStop(pidfile, 'TERM', 1).text);
    expect(result.code).toBe(5);
    expect(result.stderr).toContain(`memcached pid ${child.pid} still running 1 s after SIGTERM`);
    expect(gone(child.pid as number)).toBe(false);
    expect((await readFile(pidfile, 'utf8')).trim()).toBe(String(child.pid));
  });
});
