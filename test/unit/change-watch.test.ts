import { describe, expect, it } from 'vitest';
import {
  decodeLoggedKey,
  loggedCfd,
  parseWatchLine,
  TOUCH_FOUND,
  TOUCH_MISSED,
  TOUCH_STORE,
} from '../../src/memcached/change-watch.js';

// The change watch is what the old side's fence, the handover and the restore's
// guard stand on: these pin the log lines memcached 1.6 writes and the one
// property everything relies on — after SIGUSR1, the stream holds every change
// memcached acknowledged before it exited (test/integration/change-watch.test.ts).

describe('watch lines', () => {
  it('decodes memcached uriencoded keys to their exact bytes', () => {
    expect(decodeLoggedKey('traffic%3A12').toString('latin1')).toBe('traffic:12');
    expect(decodeLoggedKey('a%20b%25c%FF')).toEqual(Buffer.from([0x61, 0x20, 0x62, 0x25, 0x63, 0xff]));
    expect(decodeLoggedKey('plain-key_1.~')).toEqual(Buffer.from('plain-key_1.~'));
  });

  it('reads stores that changed the item, every lookup with its outcome, and dropped-entry counts', () => {
    expect(
      parseWatchLine(
        'ts=1.2 gid=3 type=item_store key=k%3A1 status=stored cmd=set ttl=0 clsid=1 cfd=17 size=3',
      ),
    ).toEqual({ kind: 'touch', event: { key: Buffer.from('k:1'), cfd: 17, touch: TOUCH_STORE } });
    // An add that found the key changed nothing.
    expect(
      parseWatchLine(
        'ts=1.2 gid=3 type=item_store key=k status=not_stored cmd=add ttl=0 clsid=1 cfd=17 size=3',
      ),
    ).toEqual({ kind: 'other' });
    expect(parseWatchLine('ts=1.2 gid=4 type=item_get key=k status=found clsid=1 cfd=9 size=3')).toEqual({
      kind: 'touch',
      event: { key: Buffer.from('k'), cfd: 9, touch: TOUCH_FOUND },
    });
    expect(parseWatchLine('ts=1.2 gid=4 type=item_get key=k status=not_found clsid=0 cfd=9 size=0')).toEqual({
      kind: 'touch',
      event: { key: Buffer.from('k'), cfd: 9, touch: TOUCH_MISSED },
    });
    expect(parseWatchLine('skipped=42')).toEqual({ kind: 'skipped', count: 42 });
    expect(parseWatchLine('ts=1.2 gid=5 type=eviction key=k fetch=no ttl=0 la=1 clsid=1 size=3')).toEqual({
      kind: 'other',
    });
  });

  it("reads a line's connection fd without parsing the rest, whatever the key holds", () => {
    expect(loggedCfd('ts=1.2 gid=4 type=item_get key=k status=not_found clsid=0 cfd=9 size=0')).toBe(9);
    expect(
      loggedCfd(
        'ts=1.2 gid=3 type=item_store key=a%20cfd%3D3 status=stored cmd=set ttl=0 clsid=1 cfd=173 size=3',
      ),
    ).toBe(173);
    expect(loggedCfd('skipped=42')).toBeNaN();
    expect(loggedCfd('ts=1.2 gid=5 type=item_get key=k cfd= size=0')).toBeNaN();
  });
});
