import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  downloadCommand,
  type ExecChannel,
  isSftpRefusal,
  partPath,
  receiveFile,
  sendFile,
  TransferChoice,
  uploadCommand,
} from '../../src/transport/exec-transfer.js';
import type { UploadProgress } from '../../src/transport/transport.js';
import { describeTransfer } from '../../src/transport/transport.js';

// The exec-stream transfer for hosts without an SFTP subsystem: the commands it
// builds, when it is chosen, and how it streams through a channel. A real /bin/sh
// running the upload script is test/integration/exec-transfer.test.ts.

/**
 * An exec channel as ssh2 gives one: the remote side reads stdin until EOF, then
 * exits and closes. Like ssh2's Channel, a write after the remote side closed
 * never calls back — the case that must not hang a transfer.
 */
class FakeChannel extends Duplex implements ExecChannel {
  readonly stderr = new Readable({ read() {} });
  readonly received: Buffer[] = [];
  private remoteClosed = false;

  constructor(private readonly onEof: (channel: FakeChannel) => void = (c) => c.finishRemote(0)) {
    super({ emitClose: false, autoDestroy: false });
  }

  override _read() {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void) {
    if (this.remoteClosed) return;
    this.received.push(chunk);
    callback();
  }

  override _final(callback: () => void) {
    callback();
    setImmediate(() => this.onEof(this));
  }

  /** The remote command ends: its stderr, its exit status, then the channel's close. */
  finishRemote(code: number | null, stderr = '') {
    this.remoteClosed = true;
    if (stderr) this.stderr.push(stderr);
    this.stderr.push(null);
    if (code !== null) this.emit('exit', code);
    this.push(null);
    setImmediate(() => this.emit('close'));
  }
}

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'memplay-exec-transfer-'));
});
afterAll(() => rm(scratch, { recursive: true, force: true }));

describe('the commands of an exec-stream transfer', () => {
  it('uploads through a part file beside the destination, every value one quoted argument', () => {
    const command = uploadCommand(
      "/srv/it's here/$(id).tar",
      1234,
      "/srv/it's here/$(id).tar.memplay-part-ab12",
    );
    expect(command.text).toMatch(/^sh -c '/);
    expect(
      command.text.endsWith(
        ` memplay-upload '/srv/it'\\''s here/$(id).tar.memplay-part-ab12' '/srv/it'\\''s here/$(id).tar' 1234`,
      ),
    ).toBe(true);
  });

  it('puts the part file in the destination directory, so the rename does not cross file systems', () => {
    expect(partPath('/opt/memcached/.memplay-build-1/tree.tar', 'cafe')).toBe(
      '/opt/memcached/.memplay-build-1/tree.tar.memplay-part-cafe',
    );
    expect(partPath('/a/b')).toMatch(/^\/a\/b\.memplay-part-[0-9a-f]{8}$/);
  });

  it('downloads with cat, a path that starts with a dash still a path', () => {
    expect(downloadCommand('/opt/x.tar').text).toBe('cat -- /opt/x.tar');
    expect(downloadCommand('-n file').text).toBe("cat -- '-n file'");
  });
});

describe('when a connection falls back from SFTP', () => {
  it('takes the ways ssh2 reports a refused subsystem as a refusal, and nothing else', () => {
    expect(isSftpRefusal(new Error('Unable to start subsystem: sftp'))).toBe(true);
    expect(isSftpRefusal(new Error('Received exit code 127 while establishing SFTP session'))).toBe(true);
    expect(isSftpRefusal(new Error('Received unexpected SFTP session termination'))).toBe(true);
    expect(isSftpRefusal(new Error('(SSH) Channel open failure: open failed'))).toBe(false);
    expect(isSftpRefusal(new Error('Not connected'))).toBe(false);
  });

  it('probes once and keeps sftp', async () => {
    let probes = 0;
    const choice = new TransferChoice(async () => {
      probes += 1;
    });
    expect(await choice.method()).toBe('sftp');
    expect(await choice.method()).toBe('sftp');
    expect(probes).toBe(1);
  });

  it('remembers a refusal: exec-stream for the rest of the connection, no second probe', async () => {
    let probes = 0;
    const choice = new TransferChoice(async () => {
      probes += 1;
      throw new Error('Unable to start subsystem: sftp');
    });
    expect(await Promise.all([choice.method(), choice.method()])).toEqual(['exec-stream', 'exec-stream']);
    expect(await choice.method()).toBe('exec-stream');
    expect(probes).toBe(1);
  });

  it('throws any other failure and does not keep it: the next caller probes again', async () => {
    let probes = 0;
    const choice = new TransferChoice(async () => {
      probes += 1;
      if (probes === 1) throw new Error('connection lost');
    });
    await expect(choice.method()).rejects.toThrow('connection lost');
    expect(await choice.method()).toBe('sftp');
    expect(probes).toBe(2);
  });

  it('names the transfer for people', () => {
    expect(describeTransfer('sftp')).toBe('sftp');
    expect(describeTransfer('exec-stream')).toBe('exec stream (no SFTP subsystem)');
    expect(describeTransfer('local')).toBe('local copy');
  });
});

describe('streaming a file through an exec channel', () => {
  it('sends the file in chunks, reports progress up to its size, and ends with the exit status', async () => {
    const file = join(scratch, 'upload.bin');
    const content = Buffer.alloc(1024 * 1024 + 17, 'x');
    content.write('head', 0);
    content.write('tail', content.length - 4);
    await writeFile(file, content);
    const channel = new FakeChannel();
    const progress: UploadProgress[] = [];
    const end = await sendFile(channel, file, content.length, (p) => progress.push(p));
    expect(end).toEqual({ code: 0, stderr: '' });
    expect(Buffer.concat(channel.received).equals(content)).toBe(true);
    // Streamed, not read whole: many writes, each far smaller than the file.
    expect(channel.received.length).toBeGreaterThan(4);
    expect(Math.max(...channel.received.map((c) => c.length))).toBeLessThanOrEqual(64 * 1024);
    expect(progress.at(-1)).toEqual({ transferred: content.length, total: content.length });
    const counts = progress.map((p) => p.transferred);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
  });

  it('returns when the remote command ends early, even though writes to the closed channel never complete', async () => {
    const file = join(scratch, 'early.bin');
    await writeFile(file, Buffer.alloc(4 * 1024 * 1024, 1));
    const channel = new FakeChannel();
    // The remote `cat` fails at once (no such directory) while the file is still being sent.
    setImmediate(() => channel.finishRemote(1, 'sh: cannot create /nope/x.part: Directory nonexistent\n'));
    const end = await sendFile(channel, file, 4 * 1024 * 1024);
    expect(end).toEqual({ code: 1, stderr: 'sh: cannot create /nope/x.part: Directory nonexistent' });
  });

  it('says a local file that cannot be read failed locally', async () => {
    const channel = new FakeChannel((c) => c.finishRemote(1, 'received 0 of 10 bytes'));
    const end = await sendFile(channel, join(scratch, 'missing.bin'), 10);
    expect(end.code).toBe(1);
    expect(end.localError?.message).toMatch(/ENOENT/);
  });

  it('receives the command output into the file', async () => {
    const local = join(scratch, 'download.bin');
    const channel = new FakeChannel(() => {});
    const chunks = [Buffer.from('first '), Buffer.alloc(200_000, 'y'), Buffer.from(' last')];
    setImmediate(() => {
      for (const chunk of chunks) channel.push(chunk);
      channel.finishRemote(0);
    });
    expect(await receiveFile(channel, local)).toEqual({ code: 0, stderr: '' });
    expect((await readFile(local)).equals(Buffer.concat(chunks))).toBe(true);
  });

  it('leaves no file behind when the remote cat fails', async () => {
    const local = join(scratch, 'failed-download.bin');
    const channel = new FakeChannel(() => {});
    setImmediate(() => channel.finishRemote(1, 'cat: /opt/x.tar: No such file or directory\n'));
    expect(await receiveFile(channel, local)).toEqual({
      code: 1,
      stderr: 'cat: /opt/x.tar: No such file or directory',
    });
    await expect(stat(local)).rejects.toThrow(/ENOENT/);
  });

  it('reports a channel that closed without an exit status (the connection lost) as such, and keeps no file', async () => {
    const local = join(scratch, 'cut-download.bin');
    const channel = new FakeChannel(() => {});
    setImmediate(() => {
      channel.push(Buffer.from('partial'));
      channel.finishRemote(null);
    });
    expect((await receiveFile(channel, local)).code).toBeNull();
    await expect(stat(local)).rejects.toThrow(/ENOENT/);
  });
});
