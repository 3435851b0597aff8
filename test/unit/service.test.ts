import { describe, expect, it } from 'vitest';
import type { HostConfig, ServiceConfig } from '../../src/playbook/types.js';
import { serviceControl } from '../../src/service/service.js';

function host(
  service: ServiceConfig,
  become = false,
  args: string[] = ['-l', '127.0.0.1', '-m', '64'],
): HostConfig {
  return {
    name: 'h',
    address: 'a',
    connection: 'ssh',
    become,
    ssh: { user: 'u', port: 22, knownHosts: '/k', connectTimeoutMs: 1000 },
    memcached: { port: 11301, prefix: '/opt/mem cached', args, keepBuilds: 2, service },
  };
}

describe('service commands', () => {
  it('pidfile: starts <prefix>/current/bin/memcached -d -P <pidfile> -p <port> <args>, every value quoted', () => {
    const control = serviceControl(
      host({ manager: 'pidfile', pidfile: '/run/m.pid' }, false, ['-o', 'a b;c']),
    );
    expect(control.start().text).toBe(
      "'/opt/mem cached/current/bin/memcached' -d -P /run/m.pid -p 11301 -o 'a b;c'",
    );
  });
  it('pidfile: stop sends SIGTERM to the pid in the pidfile and waits, never by process name', () => {
    const text = serviceControl(host({ manager: 'pidfile', pidfile: '/run/m.pid' })).stop().text;
    expect(text).toContain('kill -TERM "$pid"');
    expect(text).not.toMatch(/pkill|killall/);
    expect(text).toMatch(/ memplay-stop \/run\/m\.pid 30 TERM$/);
  });
  it('pidfile: the warm stop sends SIGUSR1 through the same script; systemd offers none', () => {
    const text = serviceControl(host({ manager: 'pidfile', pidfile: '/run/m.pid' })).stopForRestart?.().text;
    expect(text).toMatch(/ memplay-stop \/run\/m\.pid 30 USR1$/);
    expect(text).toContain('kill -USR1 "$pid"');
    expect(
      serviceControl(
        host({
          manager: 'systemd',
          unit: 'memcached.service',
          dropIn: '/etc/systemd/system/memcached.service.d/memplay.conf',
        }),
      ).stopForRestart,
    ).toBeUndefined();
  });
  it('systemd: systemctl stop/start the unit', () => {
    const control = serviceControl(
      host({
        manager: 'systemd',
        unit: 'memcached.service',
        dropIn: '/etc/systemd/system/memcached.service.d/memplay.conf',
      }),
    );
    expect(control.stop().text).toBe('systemctl stop -- memcached.service');
    expect(control.start().text).toBe('systemctl start -- memcached.service');
  });
  it('systemd with become: through sudo -n, so a password prompt fails instead of hanging', () => {
    const control = serviceControl(
      host(
        {
          manager: 'systemd',
          unit: 'memcached@a b.service',
          dropIn: '/etc/systemd/system/memcached.service.d/memplay.conf',
        },
        true,
      ),
      {},
    );
    expect(control.stop().text).toBe("sudo -n systemctl stop -- 'memcached@a b.service'");
    expect(control.start().text).toBe("sudo -n systemctl start -- 'memcached@a b.service'");
    expect(control.runOptions).toEqual({});
    // The drop-in write and the reload are one privileged script: one sudo, one password line.
    const install = control.dropIn?.install().text ?? '';
    expect(install.startsWith('sudo -n sh -c ')).toBe(true);
    expect(install).toContain('systemctl daemon-reload');
    expect(install).toContain(' memplay-drop-in /etc/systemd/system/memcached.service.d/memplay.conf ');
  });
  it('systemd with become and MEMPLAY_BECOME_PASSWORD: sudo -S reads it from stdin; it is never in the command', () => {
    const password = "pw with 'quotes' $(x)";
    const control = serviceControl(
      host(
        {
          manager: 'systemd',
          unit: 'memcached.service',
          dropIn: '/etc/systemd/system/memcached.service.d/memplay.conf',
        },
        true,
      ),
      {
        MEMPLAY_BECOME_PASSWORD: password,
      },
    );
    expect(control.stop().text).toBe("sudo -S -p '' systemctl stop -- memcached.service");
    expect(control.start().text).toBe("sudo -S -p '' systemctl start -- memcached.service");
    expect(control.runOptions).toEqual({ stdin: `${password}\n` });
  });
  it('the become password goes nowhere a host does not need it: not without become, not to a pidfile service', () => {
    const environment = { MEMPLAY_BECOME_PASSWORD: 'secret' };
    const unprivileged = serviceControl(
      host({
        manager: 'systemd',
        unit: 'memcached.service',
        dropIn: '/etc/systemd/system/memcached.service.d/memplay.conf',
      }),
      environment,
    );
    expect(unprivileged.stop().text).toBe('systemctl stop -- memcached.service');
    expect(unprivileged.runOptions).toEqual({});
    const pidfile = serviceControl(host({ manager: 'pidfile', pidfile: '/run/m.pid' }, true), environment);
    expect(pidfile.runOptions).toEqual({});
    expect(pidfile.start().text).not.toContain('secret');
  });
});
