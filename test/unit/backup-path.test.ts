import { describe, expect, it } from 'vitest';
import { backupPathFor, versionAtLeast } from '../../src/memcached/backup-path.js';

describe('backup path by running version', () => {
  it.each([
    ['1.6.38', 'meta'],
    ['1.6.10', 'meta'],
    // Before 1.6.10 meta replies said OK, not HD, and had no base64 keys.
    ['1.6.9', 'metadump-gets'],
    ['1.6.0', 'metadump-gets'],
    ['1.5.22', 'metadump-gets'],
    ['1.5.6', 'metadump-gets'],
    ['1.4.31', 'metadump-gets'],
  ])('%s is read %s', (version, path) => {
    expect(backupPathFor(version).path).toBe(path);
  });

  it('1.4.15 (CentOS 7) and 1.4.30 have no metadump: no path, and why', () => {
    for (const version of ['1.4.15', '1.4.30']) {
      expect(backupPathFor(version)).toEqual({
        path: null,
        why: `memcached ${version} has no \`lru_crawler metadump\` (1.4.31 and later), so no client can list its keys`,
      });
    }
  });

  it('compares numerically, not as text', () => {
    expect(versionAtLeast('1.6.100', '1.6.10')).toBe(true);
    expect(versionAtLeast('1.10.0', '1.6.10')).toBe(true);
    expect(versionAtLeast('1.6.9', '1.6.10')).toBe(false);
  });
});
