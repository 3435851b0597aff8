import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  type Lab,
  memcachedVersion,
  resetLab,
  setSftp,
  snapshotHost,
  writeFleetPlaybook,
} from '../lab/index.js';
import { compareDigests, digestItems, generateItems, loopbackConnection } from '../lab/items/generator.js';
import { checkJsonLines } from './event-contract.js';
import { recapOf, runMemplay, taskEvents } from './memplay-cli.js';

// Issue 16: on hosts whose sshd has no `Subsystem sftp`, --check planned the upgrade
// without a word and apply then failed every host at build ("Unable to start
// subsystem: sftp"). Here host1 (which compiles, uploads the tarball and sends its
// packed build back to the controller) and host2 (which receives that build) refuse
// SFTP; host3 keeps it.

const lab = inject('lab') as Lab;
const withoutSftp = [1, 2];
const execStream = 'transfer: exec stream (no SFTP subsystem)';

function snapshots() {
  return Promise.all(lab.hosts.map((host) => snapshotHost(lab, host.index)));
}

describe('hosts whose sshd refuses the SFTP subsystem', () => {
  beforeAll(async () => {
    await resetLab(lab);
    for (const index of withoutSftp) await setSftp(lab.hosts[index - 1]!, false);
  });
  afterAll(async () => {
    for (const host of lab.hosts) await setSftp(host, true);
    await resetLab(lab);
  });

  it('memplay facts and apply --check name the exec stream for those hosts, exit 0 and change nothing', async () => {
    const playbook = await writeFleetPlaybook(lab, {});

    const facts = await runMemplay(['facts', playbook, '--output', 'json']);
    expect(facts.code, facts.stderr).toBe(0);
    const transfers = Object.fromEntries(
      checkJsonLines(facts.stdout)
        .filter((e) => e.event === 'facts')
        .map((e) => [e.host, e.transfer]),
    );
    expect(transfers).toEqual({ host1: 'exec-stream', host2: 'exec-stream', host3: 'sftp' });
    const table = await runMemplay(['facts', playbook]);
    expect(table.stdout).toContain('host1 TRANSFER: exec stream (no SFTP subsystem)');
    expect(table.stdout).toContain('host2 TRANSFER: exec stream (no SFTP subsystem)');
    expect(table.stdout).not.toContain('host3 TRANSFER');

    const before = await snapshots();
    const check = await runMemplay(['apply', playbook, '--check', '--output', 'json']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    checkJsonLines(check.stdout);
    expect(await snapshots()).toEqual(before);
    const builds = Object.fromEntries(
      taskEvents(check)
        .filter((t) => t.task === 'build')
        .map((t) => [t.host, t]),
    );
    expect(builds.host1?.actions?.[0]).toMatchObject({ kind: 'compile', transfer: 'exec-stream' });
    expect(builds.host1?.actions?.[0]?.text).toMatch(
      /, then ship it to host2, host3; transfer: exec stream \(no SFTP subsystem\)$/,
    );
    expect(builds.host2?.actions?.[0]).toMatchObject({
      kind: 'ship',
      from: 'host1',
      transfer: 'exec-stream',
    });
    expect(builds.host2?.actions?.[0]?.text).toMatch(new RegExp(`; ${execStream.replace(/[()]/g, '\\$&')}$`));
    expect(builds.host3?.actions?.[0]).toMatchObject({ kind: 'ship', from: 'host1', transfer: 'sftp' });
    expect(builds.host3?.actions?.[0]?.text).not.toContain('transfer:');

    // What a person reads: the plan's list under each host says it.
    const plain = await runMemplay(['apply', playbook, '--check']);
    expect(plain.code, plain.stdout + plain.stderr).toBe(0);
    const planLines = plain.stdout.split('\n');
    for (const host of ['host1', 'host2']) {
      const start = planLines.indexOf(host);
      expect(planLines[start + 1], host).toMatch(/^ {2}- (build|receive) 1\.6\.38 /);
      expect(planLines[start + 1], host).toContain(execStream);
    }
  });

  it('apply upgrades every host with the build shipped over exec streams both ways, every item exact', async () => {
    const digests = await Promise.all(
      lab.hosts.map(async (host) => {
        const port = loopbackConnection(host.memcachedPort);
        await generateItems(port, { seed: 160 + host.index, count: 3_000, totalBytes: 6 * 1024 * 1024 });
        return digestItems(port);
      }),
    );
    const playbook = await writeFleetPlaybook(lab, {});
    const run = await runMemplay(['apply', playbook, '--output', 'json', '-v']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    checkJsonLines(run.stdout);
    for (const host of lab.hosts) {
      expect(await memcachedVersion(host.memcachedPort), host.name).toBe('1.6.38');
      const after = await digestItems(loopbackConnection(host.memcachedPort));
      expect(digests[host.index - 1]!.size, host.name).toBeGreaterThan(2_900);
      expect(compareDigests(digests[host.index - 1]!, after), host.name).toEqual([]);
    }
    const recap = recapOf(run);
    for (const host of lab.hosts) expect(recap[host.name], host.name).toMatchObject({ failed: 0 });

    const builds = Object.fromEntries(
      taskEvents(run)
        .filter((t) => t.task === 'build')
        .map((t) => [t.host, t.detail]),
    );
    expect(builds.host1).toMatch(
      /^built 1\.6\.38 in [\d.]+s, shipped to host2, host3; transfer: exec stream/,
    );
    const received =
      /^received 1\.6\.38 built on host1 in [\d.]+s \(tar sha256 [0-9a-f]{12}… verified here\)/;
    expect(builds.host2).toMatch(new RegExp(`${received.source}; transfer: exec stream`));
    expect(builds.host3).toMatch(new RegExp(`${received.source}$`));

    // The transfers themselves, from -v: the exec-stream upload and `cat` on the hosts
    // without SFTP, each exiting 0; none on host3, which used SFTP.
    const commands = run.events.flatMap((e) => (e.event === 'command' ? [e] : []));
    const uploads = (host: string) =>
      commands.filter((c) => c.host === host && c.command.includes('memplay-upload')).map((c) => c.code);
    expect(uploads('host1')).toEqual([0]); // the source tarball
    expect(uploads('host2')).toEqual([0]); // host1's packed build
    expect(uploads('host3')).toEqual([]);
    const packedDownload = commands.filter(
      (c) => c.host === 'host1' && /^cat -- \S+\.memplay-ship-/.test(c.command),
    );
    expect(packedDownload.map((c) => c.code)).toEqual([0]);
    // The same sha256 checks as after SFTP, on the host after each upload: the source
    // tarball's on host1, the shipped tree's (inside the one install command, whose
    // script text holds the check whether or not a tar is given) on host2 and host3.
    const checksAnUpload = (command: string) =>
      command.includes(' memplay-install ')
        ? / tree\.tar [0-9a-f]{64}$/.test(command)
        : /sha256sum -c/.test(command);
    for (const host of ['host1', 'host2', 'host3']) {
      const verified = commands.filter((c) => c.host === host && checksAnUpload(c.command));
      expect(
        verified.map((c) => c.code),
        host,
      ).toEqual([0]);
    }
    for (const host of lab.hosts) {
      expect(
        (await readdir(host.prefix)).filter(
          (e) => e.startsWith('.memplay-build') || e.includes('memplay-part'),
        ),
        host.name,
      ).toEqual([]);
    }
  });
});
