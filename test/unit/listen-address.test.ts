import { describe, expect, it } from 'vitest';
import { runningInstanceProblem } from '../../src/facts/running-instance.js';
import { dialAddresses, interfaceHost, listenSettings } from '../../src/memcached/listen-address.js';
import type { HostConfig } from '../../src/playbook/types.js';
import { head, resolveText } from '../support/playbook-helpers.js';

describe('where memcached listens, from its arguments', () => {
  it('reads -l and -p in every spelling memcached accepts; several -l add up, the last -p wins', () => {
    expect(listenSettings(['-d', '-l', '127.0.0.2', '-p', '11301', '-m', '64'])).toEqual({
      interfaces: ['127.0.0.2'],
      port: 11301,
    });
    expect(listenSettings(['-l10.0.0.5,127.0.0.1', '--listen=10.0.0.6', '--port=1', '-p2'])).toEqual({
      interfaces: ['10.0.0.5', '127.0.0.1', '10.0.0.6'],
      port: 2,
    });
    expect(listenSettings(['--listen', '::1', '--port', '0'])).toEqual({ interfaces: ['::1'], port: 0 });
    // No -l: every interface; no -p: memcached's default.
    expect(listenSettings(['-m', '1024'])).toEqual({ interfaces: [], port: 11211 });
  });

  it('dials loopback where memcached listens there or everywhere, else its own addresses in order', () => {
    expect(dialAddresses([])).toEqual(['127.0.0.1']);
    expect(dialAddresses(['0.0.0.0'])).toEqual(['127.0.0.1']);
    expect(dialAddresses(['10.0.0.5', 'localhost'])).toEqual(['127.0.0.1', '10.0.0.5']);
    expect(dialAddresses(['10.0.0.5', '10.0.0.6:11311', '[::1]:11311'])).toEqual([
      '::1',
      '10.0.0.5',
      '10.0.0.6',
    ]);
    expect(interfaceHost('[fe80::1]')).toBe('fe80::1');
    expect(interfaceHost('fe80::1')).toBe('fe80::1');
  });
});

describe('the running memcached against the playbook', () => {
  const playbook = resolveText(`${head}defaults:
  memcached:
    args: ["-l", "10.0.0.5", "-m", "64"]
hosts:
  cache1:
    address: 10.0.0.5
    memcached: { port: 11311 }
`);
  const host: HostConfig = {
    ...(playbook.hosts[0] as HostConfig),
    origins: { port: 'fleet.yml:10:24', args: 'fleet.yml:3:11' },
  };
  const options = { startsVersion: '1.6.38', acceptSettings: [] as string[] };
  const at = (args: string[], runningVersion: string | null = '1.6.18') => ({
    pid: 4242,
    commandLine: ['/opt/memcached/current/bin/memcached', ...args],
    runningVersion,
  });

  it('agrees when the port and the -l list match, whatever their spelling', () => {
    expect(runningInstanceProblem(host, at(['-p', '11311', '-l', '10.0.0.5:11311']), options)).toBeNull();
    // Nothing running, or a pid that is not memcached: nothing to compare.
    expect(
      runningInstanceProblem(host, { pid: null, commandLine: null, runningVersion: null }, options),
    ).toBeNull();
    expect(
      runningInstanceProblem(host, { ...at([]), commandLine: ['/usr/bin/sleep', '100'] }, options),
    ).toBeNull();
  });

  it('a memcached on another port than the playbook: both ports and the playbook line', () => {
    const problem = runningInstanceProblem(host, at(['-p', '11312', '-l', '10.0.0.5']), options);
    expect(problem).toContain('names pid 4242');
    expect(problem).toContain('listening on port 11312, but memcached.port is 11311 (fleet.yml:10:24)');
    // Without -p it is memcached's default port.
    expect(runningInstanceProblem(host, at(['-l', '10.0.0.5']), options)).toContain('on port 11211');
  });

  it('a running memcached that nothing reached is a problem, never "nothing to carry over"', () => {
    const problem = runningInstanceProblem(host, at(['-p', '11311', '-l', '10.0.0.5'], null), options);
    expect(problem).toContain('reached it on none of 10.0.0.5:11311');
    expect(problem).toContain('nothing was changed');
  });

  it('a new -l would cut its clients off, unless `inter` is accepted', () => {
    const running = at(['-p', '11311', '-l', '10.0.0.7']);
    expect(runningInstanceProblem(host, running, options)).toContain(
      'listens on 10.0.0.7, but memcached.args (fleet.yml:3:11) would start 1.6.38 on 10.0.0.5',
    );
    expect(runningInstanceProblem(host, running, { ...options, acceptSettings: ['inter'] })).toBeNull();
  });
});
