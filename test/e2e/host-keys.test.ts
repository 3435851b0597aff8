import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { type Lab, resetLab, snapshotHost, writeFleetPlaybook } from '../lab/index.js';
import { runMemplay } from './memplay-cli.js';

const lab = inject('lab') as Lab;
const host1 = () => lab.hosts[0]!;
const host1Name = () => `[127.0.0.1]:${host1().sshPort}`;

/** host1's real key as ssh-keygen fingerprints it. */
function host1Fingerprint(): string {
  const listed = execFileSync('ssh-keygen', ['-l', '-f', join(host1().sshdDir, 'ssh_host_ed25519_key.pub')], {
    encoding: 'utf8',
  });
  return /SHA256:[A-Za-z0-9+/]{43}/.exec(listed)?.[0] ?? `no fingerprint in ${listed}`;
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

describe('host keys: strict by default, --accept-new-host-keys trusts only unknown hosts', () => {
  beforeAll(async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
  });

  it('an unknown host1: exit 3 and nothing touched without the flag; with it the run succeeds and known_hosts gains exactly host1', async () => {
    const playbook = await writeFleetPlaybook(lab, { knownHostsWithout: [1] });
    const knownHosts = /known_hosts: (\S+)/.exec(await readFile(playbook, 'utf8'))?.[1] as string;
    const original = await readFile(knownHosts, 'utf8');
    const before = await snapshotHost(lab, 1);

    const strict = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(strict.code, strict.stdout + strict.stderr).toBe(3);
    expect(strict.events.find((e) => e.event === 'unreachable')).toMatchObject({
      host: 'host1',
      reason: 'host-key-unknown',
    });
    expect(strict.stdout).toContain('--accept-new-host-keys');
    expect(await readFile(knownHosts, 'utf8')).toBe(original);
    expect(await snapshotHost(lab, 1)).toEqual(before);

    const trusting = await runMemplay([
      'apply',
      playbook,
      '--check',
      '--accept-new-host-keys',
      '--output',
      'plain',
    ]);
    expect(trusting.code, trusting.stdout + trusting.stderr).toBe(0);
    expect(trusting.stdout).toContain(
      `host1 new host key for ${host1Name()} accepted (--accept-new-host-keys): ssh-ed25519 ${host1Fingerprint()}, added to ${knownHosts}`,
    );
    const added = lines(await readFile(knownHosts, 'utf8'));
    expect(added.slice(0, -1)).toEqual(lines(original));
    expect(added).toHaveLength(lines(original).length + 1);
    const hostKey = lines(await readFile(join(host1().sshdDir, 'ssh_host_ed25519_key.pub'), 'utf8'))[0]!;
    expect(added.at(-1)).toBe(`${host1Name()} ${hostKey.split(' ').slice(0, 2).join(' ')}`);

    // Known now: a second run with the flag adds nothing and says nothing about keys.
    const again = await runMemplay([
      'backup',
      playbook,
      '--check',
      '--accept-new-host-keys',
      '--output',
      'json',
    ]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.events.some((e) => e.event === 'host-key-accepted')).toBe(false);
    expect(lines(await readFile(knownHosts, 'utf8'))).toEqual(added);
  });

  it('a changed key for host1 is refused with both fingerprints and the fix, with or without the flag; known_hosts stays as it was', async () => {
    const tampered = join(lab.dir, 'playbooks', 'known_hosts-tampered');
    const foreignKey = (await readFile('test/fixtures/known_hosts/alpha.ed25519.pub', 'utf8')).trim();
    const foreignFingerprint = /SHA256:\S+/.exec(
      execFileSync('ssh-keygen', ['-l', '-f', 'test/fixtures/known_hosts/alpha.ed25519.pub'], {
        encoding: 'utf8',
      }),
    )?.[0] as string;
    const text = lines(await readFile(lab.knownHosts, 'utf8'))
      .map((line) =>
        line.startsWith(`${host1Name()} `)
          ? `${host1Name()} ${foreignKey.split(' ').slice(0, 2).join(' ')}`
          : line,
      )
      .join('\n');
    await writeFile(tampered, `${text}\n`);
    const playbook = await writeFleetPlaybook(lab, { knownHosts: tampered });
    const before = await snapshotHost(lab, 1);

    for (const flags of [[], ['--accept-new-host-keys']]) {
      const run = await runMemplay(['apply', playbook, '--check', ...flags, '--output', 'json']);
      expect(run.code, `${flags.join(' ')}: ${run.stdout}${run.stderr}`).toBe(3);
      const refused = run.events.find((e) => e.event === 'unreachable');
      expect(refused).toMatchObject({ host: 'host1', reason: 'host-key-changed' });
      const detail = refused?.event === 'unreachable' ? refused.detail : '';
      expect(detail).toContain(host1Fingerprint());
      expect(detail).toContain(foreignFingerprint);
      expect(detail).toContain(`ssh-keygen -R '${host1Name()}' -f ${tampered}`);
      expect(run.events.some((e) => e.event === 'host-key-accepted')).toBe(false);
      expect(await readFile(tampered, 'utf8')).toBe(`${text}\n`);
    }
    expect(await snapshotHost(lab, 1)).toEqual(before);
  });
});
