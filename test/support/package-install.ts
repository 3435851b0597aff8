import type { PackageInstall } from '../../src/facts/package-install.js';

/** Debian's memcached package as memplay reads it: the unit, the wrapper, its config file, unheld. */
export const debianPackageInstall: PackageInstall = {
  unit: 'memcached.service',
  unitFile: '/lib/systemd/system/memcached.service',
  execStart: ['/usr/share/memcached/scripts/systemd-memcached-wrapper', '/etc/memcached.conf'],
  binary: '/usr/bin/memcached',
  configFile: '/etc/memcached.conf',
  packageManager: 'dpkg',
  packageName: 'memcached',
  packageVersion: '1.6.18-1+deb12u1',
  binaryVersion: '1.6.18',
  held: false,
  autoUpdates: null,
};
