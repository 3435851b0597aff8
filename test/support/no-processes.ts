import type * as ChildProcess from 'node:child_process';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import type * as Net from 'node:net';

// The unit tier's fence: while installed, starting a child process or opening a
// connection throws, naming what was tried and where the test belongs. The builtins
// themselves are patched (not vi.mock), so code that reaches them through require(),
// a dependency or a dynamic import is stopped as well.

const require = createRequire(import.meta.url);
const childProcess = require('node:child_process') as Record<Spawner, unknown>;
const net = require('node:net') as typeof Net;

const spawners = [
  'spawn',
  'spawnSync',
  'exec',
  'execSync',
  'execFile',
  'execFileSync',
  'fork',
] as const satisfies readonly (keyof typeof ChildProcess)[];
type Spawner = (typeof spawners)[number];

export const tierMessage =
  'unit tests run no processes and open no connections — move this test to test/integration';

const violations: string[] = [];

function refuse(what: string): never {
  const message = `${tierMessage} (${what})`;
  violations.push(message);
  throw new Error(message);
}

function describeCommand(args: readonly unknown[]): string {
  return args
    .filter((arg) => typeof arg === 'string' || Array.isArray(arg))
    .flat()
    .join(' ');
}

/** Installs the fence; the function returned takes it down again. */
export function installNoProcesses(): () => void {
  const originals = new Map<Spawner, unknown>(spawners.map((name) => [name, childProcess[name]]));
  for (const name of spawners) {
    childProcess[name] = (...args: unknown[]) => refuse(`${name} ${describeCommand(args)}`);
  }
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function refused(...args: unknown[]) {
    // net.connect passes its normalized [options, callback]; socket.connect(port, host) passes them as they are.
    const first = Array.isArray(args[0]) ? args[0][0] : args[0];
    const where =
      typeof first === 'object' && first !== null
        ? ((first as { path?: string }).path ??
          `${(first as { host?: string }).host ?? 'localhost'}:${(first as { port?: number }).port}`)
        : args.filter((arg) => typeof arg !== 'function').join(':');
    return refuse(`connect ${where}`);
  } as typeof connect;
  // ESM `import { spawn } from 'node:child_process'` sees the patched functions too.
  syncBuiltinESMExports();
  return () => {
    for (const [name, original] of originals) childProcess[name] = original;
    net.Socket.prototype.connect = connect;
    syncBuiltinESMExports();
  };
}

/**
 * What the fence refused since the last call, and forgets it. A refusal the code under
 * test caught and swallowed still fails the test: the setup checks this after each one.
 */
export function takeRefusals(): string[] {
  return violations.splice(0);
}
