import * as childProcess from 'node:child_process';
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalTransport } from '../../src/transport/local.js';
import { sh } from '../../src/transport/quote.js';
import { takeRefusals, tierMessage } from '../support/no-processes.js';

// The unit tier's fence (test/unit/setup.ts) refuses loudly, however the process or
// connection is asked for. Each test takes its refusals back, or the setup's own check
// would fail it — which is the point for any other test.

afterEach(() => {
  expect(takeRefusals().length).toBeGreaterThan(0);
});

describe('the unit tier runs no processes', () => {
  it('refuses spawn and execFileSync imported by name, naming the command and where the test belongs', () => {
    expect(() => spawn('/bin/sh', ['-c', 'true'])).toThrow(`${tierMessage} (spawn /bin/sh -c true)`);
    expect(() => execFileSync('ssh-keygen', ['-l'])).toThrow(
      /^unit tests run no processes .* \(execFileSync ssh-keygen -l\)$/,
    );
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
  });

  it("refuses memplay's own local transport: its command fails with the tier message", async () => {
    const local = createLocalTransport('here');
    await expect(local.run(sh`true`)).rejects.toThrow(tierMessage);
  });

  it('refuses a connection, even to a port on this machine', () => {
    expect(() => connect(11211, '127.0.0.1')).toThrow(`${tierMessage} (connect 127.0.0.1:11211)`);
  });
});
