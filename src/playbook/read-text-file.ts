import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';

// A playbook or inventory is read whole into memory and parsed. Anything but a
// regular file of bounded size turns that into a hang or a crash: /dev/zero
// grew the controller by gigabytes, a FIFO waits for a writer forever, and tens
// of MB of YAML exhausted V8's heap (exit 134, a native stack). A fleet of
// 10,000 hosts takes 0.4 MB with one line per host, 0.75 MB with four, and
// under 2 MB written out in full; the cap leaves room for comments. 16 MB of
// group keys still took 70 s and 2.9 GB to parse and check; 4 MB takes 12 s.

/** The largest playbook or inventory memplay reads. */
export const MAX_PLAYBOOK_BYTES = 4 * 1024 * 1024;

/** Why a file cannot be read, in words that end with what to do. */
export class UnreadableFile extends Error {
  override name = 'UnreadableFile';
}

/**
 * The bytes of the regular file at `path` (`-`: standard input), at most `limit`.
 * Throws UnreadableFile for a folder, a device, a FIFO or socket, or a file
 * above the limit; other errors (ENOENT, EACCES) are rethrown for the caller to word.
 */
export async function readTextFile(
  path: string,
  limit = MAX_PLAYBOOK_BYTES,
  stdin: NodeJS.ReadableStream = process.stdin,
): Promise<Buffer> {
  if (path === '-') return readStream(stdin, limit);
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
  // before fstat could say it is one.
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EISDIR') throw new UnreadableFile(kindWords('folder'));
    throw error;
  }
  try {
    const info = await handle.stat();
    if (info.isDirectory()) throw new UnreadableFile(kindWords('folder'));
    if (!info.isFile()) throw new UnreadableFile(kindWords(specialKind(info)));
    if (info.size > limit) throw new UnreadableFile(tooBig(info.size, limit));
    // The size may have changed since fstat: read one byte past the limit to know.
    const buffer = Buffer.alloc(Math.min(info.size, limit) + 1);
    let filled = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
      if (filled > limit) throw new UnreadableFile(tooBig(filled, limit, 'at least '));
      if (filled === buffer.length) break;
    }
    return buffer.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

async function readStream(stream: NodeJS.ReadableStream, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of stream) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    total += bytes.length;
    if (total > limit) throw new UnreadableFile(tooBig(total, limit, 'at least '));
    chunks.push(bytes);
  }
  return Buffer.concat(chunks);
}

function specialKind(info: {
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
}): string {
  if (info.isCharacterDevice() || info.isBlockDevice()) return 'device';
  if (info.isFIFO()) return 'FIFO (named pipe)';
  if (info.isSocket()) return 'socket';
  return 'special file';
}

function kindWords(kind: string): string {
  return kind === 'folder'
    ? 'this is a folder; give the path of a .yml file'
    : `this is a ${kind}, not a regular file; give the path of a .yml file (or - to read standard input)`;
}

function tooBig(size: number, limit: number, about = ''): string {
  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  return `it is ${about}${mib(size)}, more than the ${mib(limit)} memplay reads; a playbook of 10,000 hosts written out in full takes under 2 MiB — check that this is the file you meant`;
}
