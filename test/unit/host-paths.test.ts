import { describe, expect, it } from 'vitest';
import { isSystemFolder } from '../../src/playbook/host-paths.js';

describe('isSystemFolder', () => {
  it.each(['/', '//', '/usr', '/usr/', '/usr//local', '/./etc', '/var/lib/', '/opt', '/home'])(
    '%s is refused as a prefix',
    (folder) => expect(isSystemFolder(folder)).toBe(true),
  );

  it.each(['/opt/memcached', '/usr/local/memcached', '/srv/cache/memcached', '/home/cache/memcached'])(
    '%s is a folder of its own',
    (folder) => expect(isSystemFolder(folder)).toBe(false),
  );
});
