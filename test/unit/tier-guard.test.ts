import * as childProcess from 'node:child_process';
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createLocalTransport } from '../../src/transport/local.js';
import { sh } from '../../src/transport/quote.js';
import { takeRefusals, tierMessage } from '../support/no-processes.js';

// The unit tier's fence (test/unit/setup.ts) refuses loudly, however the process or
// connection is asked for. Each test here takes its refusals back itself: left behind,
// they fail the test in the setup's afterEach, which is the point for every other test.

describe('the unit tier runs no processes and opens no connections', () => {
  it('refuses spawn and execFileSync imported by name, naming the command and where the test belongs', () => {
    expect(() => spawn('/bin/sh', ['-c', 'true'])).toThrow(`${tierMessage} (spawn /bin/sh -c true)`);
    expect(() => execFileSync('ssh-keygen', ['-l'])).toThrow(`${tierMessage} (execFileSync ssh-keygen -l)`);
    expect(takeRefusals()).toHaveLength(2);
  });

  it('refuses every way of starting one, through the namespace and through require()', () => {
    const required = createRequire(import.meta.url)('node:child_process') as typeof childProcess;
    for (const module of [childProcess, required]) {
      expect(() => module.exec('true')).toThrow(tierMessage);
      expect(() => module.execSync('true')).toThrow(tierMessage);
      expect(() => module.execFile('true')).toThrow(tierMessage);
      expect(() => module.spawnSync('true')).toThrow(tierMessage);
      expect(() => module.fork('dist/src/cli/main.js')).toThrow(tierMessage);
    }
    expect(takeRefusals()).toHaveLength(10);
  });

  it("refuses memplay's own local transport: its command fails with the tier message", async () => {
    const local = createLocalTransport('here');
    await expect(local.run(sh`true`)).rejects.toThrow(tierMessage);
    expect(takeRefusals()).toEqual([`${tierMessage} (spawn /bin/sh -c true)`]);
  });

  it('refuses a connection, even to a port on this machine', () => {
    expect(() => connect(11211, '127.0.0.1')).toThrow(`${tierMessage} (connect 127.0.0.1:11211)`);
    expect(takeRefusals()).toHaveLength(1);
  });

  it('keeps a refusal the code under test caught and swallowed, for the setup to fail the test with', () => {
    let fellBack = false;
    try {
      execFileSync('uname', ['-m']);
    } catch {
      fellBack = true;
    }
    expect(fellBack).toBe(true);
    expect(takeRefusals()).toEqual([`${tierMessage} (execFileSync uname -m)`]);
  });
});
