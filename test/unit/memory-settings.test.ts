import { describe, expect, it } from 'vitest';
import { memorySettingDifferences, memorySettings } from '../../src/memcached/memory-settings.js';

describe('memory settings read from a memcached command line', () => {
  it('reads short, attached, long and extended forms, and ignores everything else', () => {
    expect(
      memorySettings([
        '/opt/memcached/current/bin/memcached',
        '-d',
        '-P',
        '/run/m.pid',
        '-p',
        '11211',
        '-l',
        '127.0.0.1',
        '-m256',
        '--memory-file=/dev/shm/mc',
        '-I',
        '2m',
        '-C',
        '-o',
        'modern,slab_chunk_max=262144,lru_crawler',
      ]),
    ).toEqual({ '-m': '256', '-e': '/dev/shm/mc', '-I': '2m', '-C': 'set', slab_chunk_max: '262144' });
  });

  it('names every setting that differs, a missing one as the default', () => {
    const before = memorySettings(['-m', '64', '-e', '/dev/shm/a']);
    const after = memorySettings(['-m', '128', '-e', '/dev/shm/a', '-f', '1.5']);
    expect(memorySettingDifferences(before, after)).toEqual(['-f (default) → 1.5', '-m 64 → 128']);
    expect(
      memorySettingDifferences(before, memorySettings(['--memory-limit', '64', '-e/dev/shm/a'])),
    ).toEqual([]);
  });
});
