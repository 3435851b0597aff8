import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type BackupItem,
  createBackupWriter,
  HEADER_SIZE,
  readBackupItems,
  verifyBackup,
} from '../../src/memcached/backup-format.js';
import { ITEM_FIXED_SIZE } from '../../src/memcached/backup-layout.js';
import { keyDigest } from '../../src/memcached/key-index.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'memplay-backup-test-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const createdAt = new Date(Date.UTC(2026, 10, 29, 3, 45, 12));

function item(key: string | Buffer, value: Buffer, overrides: Partial<BackupItem> = {}): BackupItem {
  return {
    key: typeof key === 'string' ? Buffer.from(key) : key,
    value,
    flags: 0,
    exptime: 0,
    cas: 1,
    ...overrides,
  };
}

const mixed: BackupItem[] = [
  item('empty', Buffer.alloc(0)),
  item('crlf', Buffer.from('a\r\nb\r\n\0')),
  item(Buffer.from('key with spaces\r\n\0', 'latin1'), Buffer.from('x'), { flags: 4294967295 }),
  item('k'.repeat(250), randomBytes(100), { exptime: 1_900_000_000, cas: 2 ** 40 }),
  item('large', randomBytes(1024 * 1024 + 17), { flags: 7, exptime: 1_800_000_000 }),
];

function newWriter() {
  return createBackupWriter({
    dir,
    host: 'cache-1',
    memcachedVersion: '1.6.18',
    serverTime: 1_795_000_000,
    createdAt,
  });
}

async function writeBackup(items: BackupItem[], delta?: { items: BackupItem[]; deleted: string[] }) {
  const writer = await newWriter();
  for (const entry of items) await writer.writeItem(entry);
  if (delta) {
    await writer.beginDelta(1_795_000_100);
    for (const entry of delta.items) await writer.writeItem(entry);
    for (const key of delta.deleted) await writer.writeTombstone(keyDigest(Buffer.from(key)));
  }
  return writer.finish({ currItems: items.length });
}

async function readAll(path: string): Promise<BackupItem[]> {
  const items: BackupItem[] = [];
  for await (const entry of readBackupItems(path)) items.push({ ...entry, key: Buffer.from(entry.key) });
  return items;
}

async function flipByte(path: string, offset: number): Promise<void> {
  const handle = await open(path, 'r+');
  const byte = Buffer.alloc(1);
  await handle.read(byte, 0, 1, offset);
  byte[0] = (byte[0] as number) ^ 0x01;
  await handle.write(byte, 0, 1, offset);
  await handle.close();
}

describe('backup file', () => {
  it('round-trips every kind of item, named <host>/<UTC time>-<version>.mpbak, 0600 in 0700', async () => {
    const { path, header } = await writeBackup(mixed);
    expect(path).toBe(join(dir, 'cache-1', '20261129T034512Z-1.6.18.mpbak'));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'cache-1'))).mode & 0o777).toBe(0o700);
    expect(await readdir(join(dir, 'cache-1'))).toEqual(['20261129T034512Z-1.6.18.mpbak']);
    expect(header).toMatchObject({
      host: 'cache-1',
      memcachedVersion: '1.6.18',
      createdAt: '2026-11-29T03:45:12.000Z',
      serverTimeAtDump: 1_795_000_000,
      complete: true,
      items: 5,
      fullItems: 5,
      deltaItems: 0,
      tombstones: 0,
      deltaOffset: null,
      metadata: { currItems: 5 },
    });
    expect(await verifyBackup(path)).toEqual({ ok: true, header });
    const text = (await readFile(path)).subarray(0, 17).toString();
    expect(text).toBe('MEMPLAY-BACKUP 1\n');
    expect(summary(await readAll(path))).toEqual(summary(mixed));
  });

  it('flush() puts every appended record on disk before it resolves, so a full disk fails the pass that wrote it', async () => {
    const writer = await newWriter();
    // Small items stay in the writer's stage until a batch fills: without flush they are not in the file.
    const small = Array.from({ length: 100 }, (_, i) => item(`k${i}`, randomBytes(50)));
    for (const each of small) await writer.writeItem(each);
    expect((await stat(writer.partialPath)).size).toBeLessThanOrEqual(HEADER_SIZE);
    await writer.flush();
    const recordBytes = small.reduce(
      (sum, each) => sum + ITEM_FIXED_SIZE + each.key.length + each.value.length,
      0,
    );
    expect((await stat(writer.partialPath)).size).toBeGreaterThanOrEqual(HEADER_SIZE + recordBytes);
    const { path } = await writer.finish();
    expect(summary(await readAll(path))).toEqual(summary(small));
  });

  it('a writer holds no staging buffer once a pass is flushed, after finish and after abort', async () => {
    // A run keeps every host's sealed backup (and its writer) until it ends: a
    // writer that kept its stages held MBs a host across a whole fleet.
    const items = Array.from({ length: 3000 }, (_, i) => item(`key-${i}`, randomBytes(700 + (i % 300))));
    const writer = await newWriter();
    for (const entry of items.slice(0, 2000)) await writer.writeItem(entry);
    expect(writer.heldBytes).toBeGreaterThan(0);
    await writer.flush();
    expect(writer.heldBytes).toBe(0);
    await writer.beginDelta(1_795_000_100);
    for (const entry of items.slice(2000)) await writer.writeItem(entry);
    expect(writer.heldBytes).toBeGreaterThan(0);
    const { path } = await writer.finish();
    expect(writer.heldBytes).toBe(0);
    expect(summary(await readAll(path))).toEqual(summary(items));

    const dropped = await newWriter();
    for (const entry of items.slice(0, 500)) await dropped.writeItem(entry);
    expect(dropped.heldBytes).toBeGreaterThan(0);
    await dropped.abort();
    expect(dropped.heldBytes).toBe(0);
  });

  it('an empty cache makes a valid, empty backup', async () => {
    const { path } = await writeBackup([]);
    expect((await verifyBackup(path)).ok).toBe(true);
    expect(await readAll(path)).toEqual([]);
  });

  it('the delta pass overrides the full pass: updated keys take the delta value, deleted keys vanish', async () => {
    const full = [item('a', Buffer.from('a1')), item('b', Buffer.from('b1')), item('c', Buffer.from('c1'))];
    const { path, header } = await writeBackup(full, {
      items: [
        item('b', Buffer.from('b2'), { cas: 5 }),
        item('d', Buffer.from('d1')),
        item('b', Buffer.from('b3')),
      ],
      deleted: ['c'],
    });
    expect(header).toMatchObject({
      fullItems: 3,
      deltaItems: 3,
      tombstones: 1,
      serverTimeAtDelta: 1_795_000_100,
    });
    expect((await verifyBackup(path)).ok).toBe(true);
    const items = await readAll(path);
    expect(items.map((i) => `${i.key}=${i.value}`)).toEqual(['a=a1', 'd=d1', 'b=b3']);
  });

  it('detects truncation at any point, naming the byte', async () => {
    const { path } = await writeBackup(mixed);
    const size = (await stat(path)).size;
    const original = await readFile(path);
    for (const at of [
      0,
      10,
      100,
      HEADER_SIZE - 1,
      HEADER_SIZE,
      HEADER_SIZE + 30,
      size - 1024 * 1024,
      size - 97,
      size - 1,
    ]) {
      await writeFile(path, original);
      await truncate(path, at);
      const result = await verifyBackup(path);
      expect(result.ok, `truncated at ${at}`).toBe(false);
      if (!result.ok) {
        expect(result.error.problem, `truncated at ${at}`).toBe('truncated');
        expect(result.error.message).toContain(`truncated at byte ${at}`);
      }
    }
  });

  it('detects a flipped byte in the header padding, a record, a value and the trailer', async () => {
    const { path } = await writeBackup(mixed);
    const size = (await stat(path)).size;
    const original = await readFile(path);
    for (const at of [
      HEADER_SIZE - 10,
      HEADER_SIZE + 40,
      HEADER_SIZE + 200,
      size - 5000,
      size - 40,
      size - 80,
    ]) {
      await writeFile(path, original);
      await flipByte(path, at);
      const result = await verifyBackup(path);
      expect(result.ok, `flipped byte ${at}`).toBe(false);
      if (!result.ok) expect(['checksum-mismatch', 'corrupt']).toContain(result.error.problem);
    }
  });

  it('tells a foreign file, a future version and an unfinished backup apart', async () => {
    const foreign = join(dir, 'foreign');
    await writeFile(foreign, 'hello world\n');
    expect(await problem(foreign)).toBe('bad-magic');
    const future = join(dir, 'future');
    await writeFile(future, `MEMPLAY-BACKUP 2\n${' '.repeat(5000)}`);
    expect(await problem(future)).toBe('unsupported-version');
    expect(await problem(join(dir, 'missing'))).toBe('unreadable');

    const writer = await createBackupWriter({ dir, host: 'h', memcachedVersion: '1.6.18', serverTime: 1 });
    await writer.writeItem(item('a', Buffer.from('x')));
    expect(await problem(writer.partialPath)).toBe('incomplete');
    await writer.abort();
    expect(await readdir(join(dir, 'h'))).toEqual([]);
  });
});

function summary(items: BackupItem[]) {
  return items.map((i) => ({
    key: i.key.toString('hex'),
    value: createHash('sha256').update(i.value).digest('hex'),
    length: i.value.length,
    flags: i.flags,
    exptime: i.exptime,
    cas: i.cas,
  }));
}

async function problem(path: string): Promise<string> {
  const result = await verifyBackup(path);
  return result.ok ? 'ok' : result.error.problem;
}
