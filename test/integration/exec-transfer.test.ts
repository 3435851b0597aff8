import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import {
  downloadCommand,
  type ExecChannel,
  receiveFile,
  sendFile,
  uploadCommand,
} from '../../src/transport/exec-transfer.js';
import type { ShellCommand } from '../../src/transport/quote.js';

// The exec-stream transfer's commands run by a real /bin/sh, as sshd would run them
// on a host without an SFTP subsystem: the channel is the shell's stdin and stdout.

const scratch = mkdtempSync(join(tmpdir(), 'memplay-exec-transfer-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A /bin/sh process as an ssh2 exec channel: `exit` with its status, `close` once it is gone. */
class ShellChannel extends Duplex implements ExecChannel {
  readonly stderr;
  private readonly child: ChildProcessWithoutNullStreams;

  constructor(command: ShellCommand) {
    super({ emitClose: false, autoDestroy: false });
    this.child = spawn('/bin/sh', ['-c', command.text]);
    this.stderr = this.child.stderr;
    this.child.stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) this.child.stdout.pause();
    });
    this.child.stdout.on('end', () => this.push(null));
    // Like ssh2, a write to a command that has gone never completes, and is no error.
    this.child.stdin.on('error', () => {});
    this.child.on('exit', (code) => this.emit('exit', code));
    this.child.on('close', () => this.emit('close'));
  }

  override _read() {
    this.child.stdout.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void) {
    this.child.stdin.write(chunk, (error) => {
      if (!error) callback();
    });
  }

  override _final(callback: () => void) {
    this.child.stdin.end(callback);
  }
}

function localFile(name: string, bytes: number): { path: string; content: Buffer } {
  const content = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) content[i] = (i * 7 + 3) % 251;
  const path = join(scratch, name);
  writeFileSync(path, content);
  return { path, content };
}

describe('exec-stream upload through a real /bin/sh', () => {
  it('writes the file whole to a destination with an awkward name, and leaves no part file', async () => {
    const dir = join(scratch, "dest dir 'quoted' $(touch pwned)");
    mkdirSync(dir);
    const { path, content } = localFile('tarball', 3 * 1024 * 1024 + 5);
    const destination = join(dir, '-memcached.tar');
    const end = await sendFile(
      new ShellChannel(uploadCommand(destination, content.length)),
      path,
      content.length,
    );
    expect(end).toEqual({ code: 0, stderr: '' });
    expect(readFileSync(destination).equals(content)).toBe(true);
    expect(readdirSync(dir)).toEqual(['-memcached.tar']);
    expect(existsSync('pwned')).toBe(false);
  });

  it('replaces a file already at the destination', async () => {
    const { path, content } = localFile('new', 1000);
    const destination = join(scratch, 'replaced');
    writeFileSync(destination, 'old contents');
    const end = await sendFile(
      new ShellChannel(uploadCommand(destination, content.length)),
      path,
      content.length,
    );
    expect(end.code).toBe(0);
    expect(readFileSync(destination).equals(content)).toBe(true);
  });

  it('refuses a stream shorter than announced (a cut connection): no file where the whole one belongs, no part file', async () => {
    const dir = join(scratch, 'short');
    mkdirSync(dir);
    const { path, content } = localFile('short-source', 70_000);
    const destination = join(dir, 'tree.tar');
    const end = await sendFile(
      new ShellChannel(uploadCommand(destination, content.length + 1)),
      path,
      content.length + 1,
    );
    expect(end.code).toBe(1);
    expect(end.stderr).toBe(`received ${content.length} of ${content.length + 1} bytes`);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('ends with the shell error when the directory does not exist, however much is left to send', async () => {
    const { path, content } = localFile('big', 8 * 1024 * 1024);
    const destination = join(scratch, 'no such dir', 'x.tar');
    const end = await sendFile(
      new ShellChannel(uploadCommand(destination, content.length)),
      path,
      content.length,
    );
    expect(end.code).not.toBe(0);
    expect(end.stderr).toMatch(/no such dir/);
  });
});

describe('exec-stream download through a real /bin/sh', () => {
  it('streams the remote file to disk byte for byte', async () => {
    const { path, content } = localFile('remote.tar', 2 * 1024 * 1024 + 3);
    const local = join(scratch, 'arrived.tar');
    expect(await receiveFile(new ShellChannel(downloadCommand(path)), local)).toEqual({
      code: 0,
      stderr: '',
    });
    expect(readFileSync(local).equals(content)).toBe(true);
  });

  it('fails with cat’s message for a missing file, and leaves no local file', async () => {
    const local = join(scratch, 'never.tar');
    const end = await receiveFile(new ShellChannel(downloadCommand(join(scratch, 'missing.tar'))), local);
    expect(end.code).toBe(1);
    expect(end.stderr).toMatch(/missing\.tar: No such file or directory/);
    expect(existsSync(local)).toBe(false);
  });
});
