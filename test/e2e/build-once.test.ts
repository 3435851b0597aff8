import { chmod, readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Lab, memcachedVersion, resetLab, writeFleetPlaybook } from '../lab/index.js';
import { runMemplay, taskEvents } from './memplay-cli.js';

const lab = inject('lab') as Lab;

// The shared build itself (one compile, two receivers) is asserted in apply.test.ts.
describe('build once per platform: a ship that fails', () => {
  beforeAll(async () => {
    await resetLab(lab);
  });
  afterAll(async () => {
    await chmod(lab.hosts[1]!.prefix, 0o755);
    await resetLab(lab);
  });

  it('a receiver whose prefix is not writable fails cleanly after trying to compile itself, leaving no staging or ship files', async () => {
    const [host1, host2] = [lab.hosts[0]!, lab.hosts[1]!];
    await chmod(host2.prefix, 0o555);
    const playbook = await writeFleetPlaybook(lab, { hosts: [1, 2] });
    const run = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(run.code, run.stdout + run.stderr).toBe(2);
    const builds = Object.fromEntries(
      taskEvents(run)
        .filter((t) => t.task === 'build')
        .map((t) => [t.host, t]),
    );
    expect(builds.host1).toMatchObject({ status: 'changed' });
    expect(builds.host1?.detail).toMatch(/^built 1\.6\.38 in [\d.]+s, shipped to host2$/);
    expect(builds.host2).toMatchObject({ status: 'failed' });
    expect(builds.host2?.detail).toMatch(
      /^shipping from host1 failed \(create staging directory failed \(exit 1\):[\s\S]*Permission denied[\s\S]*\); compiling here failed too: create staging directory failed \(exit 1\)/,
    );
    expect((await readdir(host2.prefix)).filter((e) => e.startsWith('.memplay-'))).toEqual([]);
    expect((await readdir(host1.prefix)).filter((e) => e.startsWith('.memplay-'))).toEqual([]);
    expect((await readdir(host2.prefix)).includes('1.6.38')).toBe(false);
    expect(await memcachedVersion(host2.memcachedPort)).toBe('1.6.18');
  });
});
