import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { type Lab, resetLab, writeFleetPlaybook } from '../lab/index.js';
import { runMemplay } from './memplay-cli.js';

const lab = inject('lab') as Lab;
// Distinctive, so any appearance in output is this passphrase and nothing else.
const passphrase = `mp-pass-${randomBytes(9).toString('hex')}-Zq`;
const encryptedKey = join(lab.dir, 'playbooks', 'id_ed25519-encrypted');

async function backupFiles(): Promise<string[]> {
  const dir = join(lab.dir, 'backups', 'host1');
  return (await readdir(dir).catch(() => [] as string[]))
    .filter((f) => f.endsWith('.mpbak'))
    .map((f) => join(dir, f));
}

describe('MEMPLAY_SSH_PASSPHRASE unlocks an encrypted identity_file and appears nowhere', () => {
  let playbook: string;

  beforeAll(async () => {
    await resetLab(lab, { keepBuilds: ['1.6.38'] });
    await mkdir(join(lab.dir, 'playbooks'), { recursive: true });
    await rm(encryptedKey, { force: true });
    await copyFile(lab.identityFile, encryptedKey);
    execFileSync('ssh-keygen', ['-q', '-p', '-P', '', '-N', passphrase, '-f', encryptedKey]);
    // Proof the copy really is encrypted: without the passphrase it cannot be read.
    expect(() =>
      execFileSync('ssh-keygen', ['-y', '-P', '', '-f', encryptedKey], { stdio: 'pipe' }),
    ).toThrow();
    playbook = await writeFleetPlaybook(lab, { identityFile: encryptedKey });
  });

  it.each(['--output plain', '--output json', '--output json -v', '--output plain -v'])(
    'apply --check %s: connects with the key, and the passphrase is in neither stdout nor stderr',
    async (flags) => {
      const run = await runMemplay(['apply', playbook, '--check', ...flags.split(' ')], {
        MEMPLAY_SSH_PASSPHRASE: passphrase,
      });
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(run.stdout).toContain('host1');
      expect(run.stdout).not.toContain(passphrase);
      expect(run.stderr).not.toContain(passphrase);
    },
  );

  it('a real backup through the encrypted key: the passphrase is not in the output nor anywhere in the backup file', async () => {
    const before = new Set(await backupFiles());
    const run = await runMemplay(['backup', playbook, '--limit', 'host1', '--output', 'json', '-v'], {
      MEMPLAY_SSH_PASSPHRASE: passphrase,
    });
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(`${run.stdout}${run.stderr}`).not.toContain(passphrase);
    const written = (await backupFiles()).filter((f) => !before.has(f));
    expect(written).toHaveLength(1);
    const file = await readFile(written[0] as string);
    expect(file.subarray(0, 4096).toString('utf8')).toMatch(/^MEMPLAY-BACKUP 1\n\{"format":"memplay-backup"/);
    expect(file.includes(passphrase)).toBe(false);
  });

  it('a wrong passphrase: exit 3, the message names the variable, and the wrong value is not echoed', async () => {
    const wrong = `${passphrase}-wrong`;
    const run = await runMemplay(['apply', playbook, '--check', '--output', 'plain', '-v'], {
      MEMPLAY_SSH_PASSPHRASE: wrong,
    });
    expect(run.code).toBe(3);
    expect(run.stdout).toContain('MEMPLAY_SSH_PASSPHRASE does not decrypt it');
    expect(`${run.stdout}${run.stderr}`).not.toContain(wrong);
    expect(`${run.stdout}${run.stderr}`).not.toContain(passphrase);
  });
});
