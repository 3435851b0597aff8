import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pipelineFromSteps } from '../../src/engine/pipeline.js';
import { authRequest, credentialsProblem } from '../../src/memcached/ascii-auth.js';
import { loadPlaybook } from '../../src/playbook/index.js';
import type { HostConfig } from '../../src/playbook/types.js';
import { dropInText, systemdWord } from '../../src/service/drop-in.js';

describe('tasks: command steps', () => {
  it('drain-before-swap.yml: the steps up to build are the prepare phase, the rest the rolling phase', async () => {
    const playbook = await loadPlaybook('examples/drain-before-swap.yml');
    expect(playbook.tasks?.filter((step) => step.kind === 'command')).toEqual([
      {
        kind: 'command',
        name: 'lb-drain',
        argv: ['/usr/local/bin/lb-ctl', 'drain', '--wait-connections', '30'],
        when: 'upgrading',
      },
      { kind: 'command', name: 'lb-enable', argv: ['/usr/local/bin/lb-ctl', 'enable'], when: 'upgrading' },
    ]);
    const pipeline = pipelineFromSteps(playbook.tasks ?? []);
    expect(
      pipeline.phases.map((phase) => [phase.name, phase.batches, phase.tasks.map((t) => t.name)]),
    ).toEqual([
      ['prepare', 'fleet', ['version_check', 'build']],
      ['rolling', 'serial', ['backup', 'lb-drain', 'swap', 'restore', 'verify', 'lb-enable']],
    ]);
  });
});

describe('systemd drop-in', () => {
  it('quotes each argument so systemd expands neither % specifiers nor $variables', () => {
    expect(systemdWord('plain')).toBe('"plain"');
    expect(systemdWord('50%')).toBe('"50%%"');
    expect(systemdWord('$HOME')).toBe('"$$HOME"');
    expect(systemdWord('a "b" \\c')).toBe('"a \\"b\\" \\\\c"');
  });

  it('clears ExecStart, then points it at <prefix>/current with the port and args', () => {
    const host = {
      name: 'h',
      memcached: { port: 11211, prefix: '/opt/memcached', args: ['-m', '64', '-o', 'x=$y'] },
    } as unknown as HostConfig;
    expect(dropInText(host)).toContain(
      '[Service]\nType=exec\nExecStart=\nExecStart="/opt/memcached/current/bin/memcached" "-p" "11211" "-m" "64" "-o" "x=$$y"\n',
    );
  });
});

describe('memcached ASCII authentication', () => {
  it('sends the credentials as the data of a set, its length counted in bytes', () => {
    expect(authRequest({ user: 'app', password: 'pässwörd' }).toString('utf8')).toBe(
      'set memplay-auth 0 0 14\r\napp pässwörd\r\n',
    );
  });

  it('refuses credentials memcached would split: empty, with a space or a control character', () => {
    expect(credentialsProblem({ user: 'app', password: 'secret' })).toBeUndefined();
    expect(credentialsProblem({ user: 'app', password: '' })).toBe('is empty');
    expect(credentialsProblem({ user: 'a p', password: 'x' })).toMatch(/space/);
    expect(credentialsProblem({ user: 'app', password: 'x\ny' })).toMatch(/space or a control/);
  });
});

describe('hosts without a compiler', () => {
  it('build-host.yml: a build host outside the fleet, with the defaults’ key and its own user; it is not a host of the run', async () => {
    const playbook = await loadPlaybook('examples/build-host.yml');
    expect(playbook.target.buildOn).toMatchObject({
      where: 'host',
      inFleet: false,
      host: {
        name: 'ci-builder.example.com',
        connection: 'ssh',
        ssh: { user: 'builder', port: 22, identityFile: expect.stringMatching(/\/\.ssh\/id_cache$/) },
      },
    });
    expect(playbook.hosts.map((h) => h.name)).toEqual(['cache-h1', 'cache-h2', 'cache-h3']);
  });

  it('prebuilt.yml: the tree is found beside the playbook and pinned by its sha256', async () => {
    const playbook = await loadPlaybook('examples/prebuilt.yml');
    expect(playbook.target.prebuilt).toEqual({
      file: resolve('examples/artifacts/memcached-1.6.38-linux-x86_64.tar.gz'),
      sha256: '5f4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3a29180f7e6',
    });
    expect(playbook.target.buildOn).toBeUndefined();
  });
});
