import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type MetadumpEntry,
  MetadumpError,
  parseMetadump,
  parseMetadumpLine,
} from '../../src/memcached/metadump.js';
import { MetadumpSpool } from '../../src/memcached/metadump-spool.js';

async function collect(chunks: string[]): Promise<{ entries: MetadumpEntry[]; count: number }> {
  async function* source() {
    for (const chunk of chunks) yield Buffer.from(chunk, 'latin1');
  }
  const entries: MetadumpEntry[] = [];
  const dump = parseMetadump(source());
  for (;;) {
    const step = await dump.next();
    if (step.done) return { entries, count: step.value };
    entries.push(step.value);
  }
}

async function refusal(chunks: string[]): Promise<MetadumpError> {
  try {
    await collect(chunks);
  } catch (error) {
    expect(error).toBeInstanceOf(MetadumpError);
    return error as MetadumpError;
  }
  throw new Error('expected a refusal');
}

describe('parseMetadumpLine', () => {
  it('reads the 1.6.18 fields and decodes the key to bytes', () => {
    const entry = parseMetadumpLine(
      'key=a%20b%00%C3%BF%0D%0A exp=1795928629 la=1795925029 cas=8 fetch=no cls=1 size=71',
    );
    expect(entry.key).toEqual(Buffer.from([0x61, 0x20, 0x62, 0x00, 0xc3, 0xbf, 0x0d, 0x0a]));
    expect(entry).toMatchObject({
      exptime: 1795928629,
      lastAccess: 1795925029,
      cas: 8,
      fetched: false,
      slabClass: 1,
      size: 71,
      flags: undefined,
    });
  });

  it('ignores fields it does not know', () => {
    const entry = parseMetadumpLine('key=k exp=-1 la=5 cas=7 fetch=no cls=1 size=66 future=x%20y flags=3');
    expect(entry).toMatchObject({ key: Buffer.from('k'), cas: 7, flags: 3 });
  });

  it('refuses a line whose numbers are not numbers', () => {
    expect(() => parseMetadumpLine('key=k exp=soon la=5 cas=7 fetch=no cls=1 size=66')).toThrow(
      MetadumpError,
    );
  });

  it('reads never-expiring items as exptime 0 and the 1.6.38 flags field', () => {
    const entry = parseMetadumpLine(
      'key=small exp=-1 la=1795925101 cas=3 fetch=yes cls=1 size=66 flags=4294967295',
    );
    expect(entry).toMatchObject({ exptime: 0, fetched: true, flags: 4294967295 });
  });
});

describe('MetadumpSpool', () => {
  it('keeps order when it spills to disk behind a slow consumer, and removes the spill file', async () => {
    const spillDir = await mkdtemp(join(tmpdir(), 'memplay-spool-test-'));
    try {
      const spool = new MetadumpSpool({ memoryBytes: 64, spillDir });
      const sent: Buffer[] = [];
      for (let i = 0; i < 200; i++) {
        const chunk = Buffer.from(`chunk ${i} ${'x'.repeat(i % 50)}\n`);
        sent.push(chunk);
        spool.write(chunk);
      }
      const received: Buffer[] = [];
      let n = 0;
      for await (const chunk of spool) {
        received.push(chunk);
        if (++n === 3) {
          expect((await readdir(spillDir)).length).toBe(1);
          // Written while the consumer reads back the spill: still in order.
          for (let i = 200; i < 300; i++) {
            const more = Buffer.from(`chunk ${i}\n`);
            sent.push(more);
            spool.write(more);
          }
          spool.end();
        }
      }
      expect(Buffer.concat(received).toString()).toBe(Buffer.concat(sent).toString());
      expect(await readdir(spillDir)).toEqual([]);
    } finally {
      await rm(spillDir, { recursive: true, force: true });
    }
  });
});

describe('parseMetadump', () => {
  it('streams entries split anywhere across chunks and returns the count at END', async () => {
    const text =
      'key=one exp=-1 la=1 cas=1 fetch=no cls=1 size=60\n' +
      'key=two%20x exp=1800000000 la=1 cas=2 fetch=no cls=2 size=90\n' +
      'END\r\n';
    for (const cut of [1, 7, 48, 50, 51, text.length - 3, text.length - 1]) {
      const { entries, count } = await collect([text.slice(0, cut), text.slice(cut)]);
      expect(count).toBe(2);
      expect(entries.map((e) => e.key.toString('latin1'))).toEqual(['one', 'two x']);
    }
  });

  it('treats NOTSTARTED (nothing to crawl) as an empty dump', async () => {
    expect((await collect(['NOTSTARTED no items to crawl\r\n'])).count).toBe(0);
  });

  it('reports BUSY as retryable, BADCLASS as an unsupported mode, a disabled dump as final', async () => {
    const busy = await refusal(['BUSY currently processing crawler request\r\n']);
    expect([busy.refusal, busy.retryable]).toEqual(['busy', true]);
    expect((await refusal(['BADCLASS invalid class id\r\n'])).refusal).toBe('unsupported-mode');
    const disabled = await refusal(['ERROR metadump not allowed\r\n']);
    expect([disabled.refusal, disabled.retryable]).toEqual(['disabled', false]);
    expect((await refusal(['CLIENT_ERROR lru crawler disabled\r\n'])).refusal).toBe('disabled');
  });

  it('reports a dump cut short after entries, with how many came first', async () => {
    const locked = await refusal([
      'key=a exp=-1 la=1 cas=1 fetch=no cls=1 size=60\nERROR locked try again later\r\n',
    ]);
    expect([locked.refusal, locked.retryable, locked.entriesBefore]).toEqual(['interrupted', true, 1]);
    const closed = await refusal(['key=a exp=-1 la=1 cas=1 fetch=no cls=1 size=60\n']);
    expect([closed.refusal, closed.entriesBefore]).toEqual(['interrupted', 1]);
  });
});

describe('parseMetadump on 1.6.45', () => {
  it('skips the OK line 1.6.45 sends before the first entry, and still refuses an OK after one', async () => {
    const line = 'key=a exp=-1 la=1795947956 cas=2 fetch=no cls=1 size=61 flags=0\n';
    const { entries, count } = await collect(['OK\r\n', line, 'END\r\n']);
    expect(count).toBe(1);
    expect(entries.map((e) => e.key.toString())).toEqual(['a']);
    expect((await collect(['OK\r\nEND\r\n'])).count).toBe(0);
    expect((await refusal([line, 'OK\r\n', 'END\r\n'])).message).toContain('OK');
  });
});
