import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CommandEvent, CommandSlots, exitCodeForSignal } from '../../src/transport/command-events.js';
import { createLocalTransport } from '../../src/transport/local.js';
import { sh } from '../../src/transport/quote.js';

const scratch = mkdtempSync(join(tmpdir(), 'memplay-local-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('local transport', () => {
  const events: CommandEvent[] = [];
  const local = createLocalTransport('here', { onCommand: (e) => events.push(e) });

  it('returns exit code, stdout and stderr, and logs the command', async () => {
    const result = await local.run(sh`printf %s ${"it's"}; echo oops >&2; exit 4`);
    expect(result).toEqual({ code: 4, stdout: "it's", stderr: 'oops\n' });
    expect(events.at(-1)).toMatchObject({ host: 'here', code: 4, stdout: "it's", stderr: 'oops\n' });
    expect(events.at(-1)?.command).toBe(`printf %s 'it'\\''s'; echo oops >&2; exit 4`);
  });

  it('feeds stdin, and closes it when there is none', async () => {
    expect((await local.run(sh`cat`, { stdin: 'line\n' })).stdout).toBe('line\n');
    expect((await local.run(sh`cat`)).stdout).toBe('');
    expect((await local.runRaw(sh`printf '\\001\\377'`)).stdout).toEqual(Buffer.from([1, 255]));
  });

  it('reports a signal-killed command as 128+N with a note', async () => {
    const result = await local.run(sh`kill -KILL $$`);
    expect(result.code).toBe(137);
    expect(result.stderr).toContain('killed by signal SIGKILL');
  });

  it('kills the whole pipeline on timeout and names the command', async () => {
    const started = Date.now();
    await expect(local.run(sh`sleep 30 | cat`, { timeoutMs: 200 })).rejects.toThrow(
      'here: command timed out after 200 ms: sleep 30 | cat',
    );
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('copies a file and reports progress once, at the end', async () => {
    const source = join(scratch, 'source');
    writeFileSync(source, 'x'.repeat(1000));
    const progress: unknown[] = [];
    await local.upload(source, join(scratch, 'copy'), (p) => progress.push(p));
    expect(readFileSync(join(scratch, 'copy'), 'utf8')).toBe('x'.repeat(1000));
    expect(progress).toEqual([{ transferred: 1000, total: 1000 }]);
  });

  it('opens a TCP stream to 127.0.0.1', async () => {
    const server = createServer((socket) => socket.end('hello'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const stream = await local.openTcp(port);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('hello');
    server.close();
  });

  it('refuses work after close', async () => {
    const closed = createLocalTransport('gone');
    await closed.close();
    await closed.close();
    await expect(closed.run(sh`true`)).rejects.toThrow('gone: transport already closed');
  });
});

describe('CommandSlots', () => {
  it('never lets more than the limit run, and serves waiters in order', async () => {
    const slots = new CommandSlots(2);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const release = await slots.acquire();
        running += 1;
        peak = Math.max(peak, running);
        order.push(i);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running -= 1;
        release();
        release();
      }),
    );
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
  });
});

describe('exitCodeForSignal', () => {
  it('follows the shell convention 128+N', () => {
    expect(exitCodeForSignal('KILL')).toBe(137);
    expect(exitCodeForSignal('SIGTERM')).toBe(143);
    expect(exitCodeForSignal('NOPE')).toBe(-1);
  });
});

// Issue 17 item 13: the local transport used to hand every MEMPLAY_* secret to its children.
describe("a local host's commands and memplay's environment", () => {
  it('a command sees PATH and HOME, and none of the secrets memplay holds', async () => {
    const saved = { ...process.env };
    process.env.MEMPLAY_BECOME_PASSWORD = 'sudo-secret-for-local';
    process.env.MEMPLAY_API_TOKEN = 'token-for-local';
    process.env.CACHE_PASSWORD = 'cache-secret-for-local';
    const local = createLocalTransport('here');
    try {
      const { stdout, code } = await local.run(sh`env`);
      expect(code).toBe(0);
      expect(stdout).toContain(`PATH=${saved.PATH}`);
      expect(stdout).not.toContain('sudo-secret-for-local');
      expect(stdout).not.toContain('token-for-local');
      expect(stdout).not.toContain('cache-secret-for-local');
      expect(stdout).not.toMatch(/^MEMPLAY_/m);
    } finally {
      await local.close();
      process.env = saved;
    }
  });
});
