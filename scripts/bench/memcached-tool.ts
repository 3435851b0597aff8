import { once } from 'node:events';
import { closeSync, createReadStream, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { runOk } from './process.js';

// The baseline memplay is measured against: memcached-tool's `dump` (metadump
// all, then one `get` per key, each waiting for its reply) and feeding that dump
// back into a port, as an operator would with `nc`.

export const memcachedTool = '/usr/share/memcached/scripts/memcached-tool';

export interface ToolDump {
  readonly wallMs: number;
  readonly fileBytes: number;
  /** `add` records that parse (header line, value of the stated length, CRLF). */
  readonly records: number;
  readonly valueBytes: number;
  /** Stretches that are not a well-formed record (a key with CR/LF in it, say). */
  readonly malformed: number;
}

export async function dumpWithMemcachedTool(port: number, file: string): Promise<ToolDump> {
  const fd = openSync(file, 'w');
  let wallMs: number;
  try {
    ({ wallMs } = await runOk(memcachedTool, [`127.0.0.1:${port}`, 'dump'], { stdout: fd }));
  } finally {
    closeSync(fd);
  }
  return { wallMs, ...parseDump(await readFile(file)) };
}

const HEADER = /^add (.+) (\d+) (-?\d+) (\d+)$/s;

/** Counts the records of a memcached-tool dump: `add <key> <flags> <exptime> <bytes>\r\n<value>\r\n`. */
function parseDump(dump: Buffer): Omit<ToolDump, 'wallMs'> {
  let records = 0;
  let valueBytes = 0;
  let malformed = 0;
  let at = 0;
  while (at < dump.length) {
    const eol = dump.indexOf('\r\n', at);
    const header = HEADER.exec(dump.toString('latin1', at, eol < 0 ? dump.length : eol));
    const length = Number(header?.[4]);
    const end = eol + 2 + length;
    if (eol >= 0 && header && dump[end] === 0x0d && dump[end + 1] === 0x0a) {
      records++;
      valueBytes += length;
      at = end + 2;
      continue;
    }
    malformed++;
    const next = dump.indexOf('\r\nadd ', at + 1);
    if (next < 0) break;
    at = next + 2;
  }
  return { fileBytes: dump.length, records, valueBytes, malformed };
}

export interface ToolRestore {
  readonly wallMs: number;
  readonly stored: number;
  readonly notStored: number;
  /** ERROR / CLIENT_ERROR / SERVER_ERROR replies. */
  readonly errors: number;
  /** The server answered the closing `version`: every command before it was processed. */
  readonly complete: boolean;
}

/**
 * Streams the dump into 127.0.0.1:port on one connection and times it until the
 * server has answered everything: a `version` sent after the dump comes back
 * only once every command before it has been processed.
 */
const IDLE_MS = 5_000;

export async function pipeDumpIntoPort(
  port: number,
  file: string,
  timeoutMs = 120_000,
): Promise<ToolRestore> {
  const socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  const started = performance.now();
  let stored = 0;
  let notStored = 0;
  let errors = 0;
  let partial = '';
  let lastReplyAt = started;
  const answered = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    const finish = (complete: boolean) => {
      clearTimeout(timer);
      resolve(complete);
    };
    socket.on('data', (chunk: Buffer) => {
      lastReplyAt = performance.now();
      const lines = (partial + chunk.toString('latin1')).split('\r\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (line === 'STORED') stored++;
        else if (line === 'NOT_STORED') notStored++;
        else if (line.startsWith('VERSION ')) finish(true);
        else if (/^(ERROR|CLIENT_ERROR|SERVER_ERROR)/.test(line)) errors++;
      }
    });
    socket.once('close', () => finish(false));
    socket.once('error', () => finish(false));
  });
  const input = createReadStream(file, { highWaterMark: 1024 * 1024 });
  input.pipe(socket, { end: false });
  await once(input, 'end');
  socket.write('version\r\n');
  // A dump with malformed records can leave the server waiting for data that
  // never comes: stop once it has said nothing for IDLE_MS, not after timeoutMs.
  let idle = setTimeout(() => socket.destroy(), IDLE_MS);
  socket.on('data', () => {
    clearTimeout(idle);
    idle = setTimeout(() => socket.destroy(), IDLE_MS);
  });
  const complete = await answered;
  clearTimeout(idle);
  // Unanswered: timed to the last reply, not to the end of the idle wait.
  const wallMs = (complete ? performance.now() : lastReplyAt) - started;
  socket.destroy();
  return { wallMs, stored, notStored, errors, complete };
}

/** One text-protocol command on a fresh connection; resolves with the first reply line. */
export async function textCommand(port: number, command: string): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  socket.write(`${command}\r\n`);
  let reply = '';
  for await (const chunk of socket) {
    reply += (chunk as Buffer).toString('latin1');
    const eol = reply.indexOf('\r\n');
    if (eol >= 0) {
      socket.destroy();
      return reply.slice(0, eol);
    }
  }
  throw new Error(`bench: 127.0.0.1:${port} closed before answering ${command}`);
}
