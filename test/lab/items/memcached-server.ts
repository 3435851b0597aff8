import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';

// A throwaway memcached on a free loopback port, for tests and benchmarks.

export interface LocalMemcached {
  readonly port: number;
  readonly connect: () => Promise<Socket>;
  stop(): Promise<void>;
  /** Sends `signal` (SIGUSR1: a graceful stop) and waits for the process to exit. */
  stopWith(signal: NodeJS.Signals): Promise<void>;
}

export interface LocalMemcachedOptions {
  readonly binary?: string;
  readonly memoryMb?: number;
  /** -I, e.g. '1m' or '512k'. */
  readonly itemSizeMax?: string;
  readonly extraArgs?: readonly string[];
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (!address || typeof address === 'string') throw new Error('no free port');
  return address.port;
}

function connectTo(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

export async function startMemcached(options: LocalMemcachedOptions = {}): Promise<LocalMemcached> {
  const port = await freePort();
  const args = ['-p', String(port), '-l', '127.0.0.1', '-U', '0', '-m', String(options.memoryMb ?? 256)];
  if (options.itemSizeMax) args.push('-I', options.itemSizeMax);
  // memcached refuses to run as root unless told which user to be.
  if (process.getuid?.() === 0) args.push('-u', 'root');
  args.push(...(options.extraArgs ?? []));
  const child: ChildProcess = spawn(options.binary ?? '/usr/bin/memcached', args, {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  for (let attempt = 0; ; attempt++) {
    try {
      const socket = await connectTo(port);
      socket.destroy();
      break;
    } catch (error) {
      if (child.exitCode !== null || attempt > 100) {
        child.kill();
        throw new Error(`memcached ${args.join(' ')} did not start: ${stderr || (error as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    port,
    connect: () => connectTo(port),
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
    async stopWith(signal) {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill(signal);
      // memcached looks at a stop signal when its main loop wakes: a connection wakes it.
      await connectTo(port).then(
        (socket) => socket.destroy(),
        () => {},
      );
      await exited;
    },
  };
}
