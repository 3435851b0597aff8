import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runMemplay } from '../e2e/memplay-cli.js';

// `memplay init --from-running` through the built CLI, where no host answers; the probe
// on a real host is test/e2e/init-from-running.test.ts.

const sha = '074076ab3e889e16e763c6a3e5cadacc6696979dbb8c473bbf871d498b19b1a0';

describe('memplay init --from-running on the command line', () => {
  it('a host that cannot be reached: exit 3 naming it, and no file; --hosts with --from-running: exit 5', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'memplay-from-running-cli-'));
    const file = join(dir, 'fleet.yml');
    const target = ['--version', '1.6.38', '--sha256', sha, '--known-hosts', join(dir, 'known_hosts')];
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    const unreachable = await runMemplay(
      ['init', file, '--from-running', 'c1=nobody@127.0.0.1:1', ...target],
      {
        SSH_AUTH_SOCK: join(dir, 'no-agent'),
      },
    );
    expect(unreachable.code, unreachable.stderr).toBe(3);
    expect(unreachable.stderr).toMatch(/^memplay: c1: cannot connect to 127\.0\.0\.1:1: /);
    expect(unreachable.stderr).toContain('1 of 1 host could not be described, so nothing was written');
    const mixed = await runMemplay(['init', file, '--from-running', 'c1', '--hosts', 'c1', ...target]);
    expect(mixed.code).toBe(5);
    expect(mixed.stderr).toContain('--hosts does not go with --from-running');
    expect(await readdir(dir)).toEqual([]);
  });
});
