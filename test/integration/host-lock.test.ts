import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lockPath, lockRefusal, peekHostLock, takeHostLock } from '../../src/engine/host-lock.js';
import type { HostConfig } from '../../src/playbook/types.js';
import { createLocalTransport } from '../../src/transport/local.js';

// The lock script itself, run by a real /bin/sh through the local transport:
// what the lab's e2e test does over ssh, without the lab.

const scratch = mkdtempSync(join(tmpdir(), 'memplay-lock-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const host = { name: 'here', memcached: { prefix: join(scratch, "pre fix'") } } as unknown as HostConfig;
const holder = (pid: number) => ({ controller: 'ctl', user: 'op', pid, started: '2026-12-06T00:00:00.000Z' });

describe('the host lock', () => {
  const local = createLocalTransport('here');

  it('one holder at a time: a second take and a peek see it busy, with its holder; released, the lock is gone', async () => {
    const first = await takeHostLock(host, local, holder(1111));
    expect(first.kind).toBe('held');
    expect(readFileSync(lockPath(host), 'utf8')).toMatch(/^\d+\tcontroller ctl, user op, pid 1111, started /);
    const second = await takeHostLock(host, local, holder(2222));
    expect(second).toMatchObject({ kind: 'busy', holder: expect.stringContaining('pid 1111') });
    expect(await peekHostLock(host, local)).toMatchObject({ kind: 'busy', holderPid: expect.any(Number) });
    expect(lockRefusal(host, second)).toMatch(/^busy: another memplay run holds .*\(kill \d+\)$/);
    if (first.kind === 'held') await first.release();
    expect(existsSync(lockPath(host))).toBe(false);
    expect(await peekHostLock(host, local)).toEqual({ kind: 'free' });
  });

  it('a lock whose holder process is gone is taken over, and names who left it', async () => {
    await mkdir(join(host.memcached.prefix, '.memplay'), { recursive: true });
    // pid 1 is no lock holder.
    writeFileSync(lockPath(host), '1\tcontroller ghost, user x, pid 9, started then\n');
    expect(await peekHostLock(host, local)).toEqual({ kind: 'free' });
    const taken = await takeHostLock(host, local, holder(3333));
    expect(taken).toMatchObject({
      kind: 'held',
      tookOverFrom: 'controller ghost, user x, pid 9, started then',
    });
    if (taken.kind === 'held') await taken.release();
    expect(existsSync(lockPath(host))).toBe(false);
  });
});
