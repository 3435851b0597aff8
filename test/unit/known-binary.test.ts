import { describe, expect, it } from 'vitest';
import { unknownBinaryReason } from '../../src/tasks/known-binary.js';

describe('unknownBinaryReason: a rollback reruns only a build memplay installed', () => {
  const builds = ['1.6.18', '1.6.38'];

  it.each([['/opt/memcached/current/bin/memcached'], ['/opt/memcached/1.6.18/bin/memcached']])(
    '%s is a known build',
    (program) => {
      expect(unknownBinaryReason([program, '-p', '11211'], '/opt/memcached/', builds)).toBeNull();
    },
  );

  it.each([
    ['/tmp/evil', 'not a memcached build memplay installed under /opt/memcached'],
    ['/opt/memcached/1.6.18/../../../tmp/evil/bin/memcached', 'not a memcached build'],
    ['/opt/memcached/1.5.0/bin/memcached', 'not a memcached build'],
    ['memcached', 'not a memcached build'],
    ['/usr/bin/memcached', 'not a memcached build'],
  ])('%s is refused', (program, reason) => {
    expect(unknownBinaryReason([program], '/opt/memcached', builds)).toContain(reason);
  });

  it('an empty command line is refused', () => {
    expect(unknownBinaryReason([], '/opt/memcached', builds)).toBe('the command line is empty');
  });
});
