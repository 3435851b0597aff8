import { beforeEach, describe, expect, inject, it } from 'vitest';
import type { RunEvent } from '../../src/report/events.js';
import { cachedBuild } from '../lab/build.js';
import { ensureBuild, type Lab, memcachedVersion, resetLab, writeFleetPlaybook } from '../lab/index.js';
import { copyBuildInto } from '../lab/install-build.js';
import { compareDigests, digestItems, generateItems, loopbackConnection } from '../lab/items/generator.js';
import { runMemplay, taskEvents } from './memplay-cli.js';

// verify's gates on the lab: protocols, stats settings and a short load,
// recorded on 1.6.18 before the swap and held against 1.6.38 after the restore.
// The lab shares 2 cores with other work, so these playbooks loosen the
// performance thresholds far beyond the defaults: a test that needs the
// performance gate to fail forces it with an impossible threshold instead of
// hoping for slowness.

const lab = inject('lab') as Lab;
const direct = loopbackConnection;
const host1 = () => lab.hosts[0]!;
const loose = { max_latency_regression: 50, min_throughput_ratio: 0.01 } as const;

type GateEvent = Extract<RunEvent, { event: 'gate' }>;
const gateEvents = (events: readonly RunEvent[]) => events.filter((e): e is GateEvent => e.event === 'gate');
const gate = (events: readonly RunEvent[], name: GateEvent['gate']) => {
  const found = gateEvents(events).filter((e) => e.gate === name);
  expect(found, `one ${name} gate event`).toHaveLength(1);
  return found[0] as GateEvent;
};

describe('verify gates', () => {
  beforeEach(async () => {
    // The plain builds on both sides, whatever an earlier test file left under the
    // same version folders (a TLS build reports eleven ssl_* settings the other lacks,
    // which the settings gate rightly reports): copied before the reset restarts 1.6.18.
    await copyBuildInto(host1(), '1.6.18', await cachedBuild('1.6.18'));
    await resetLab(lab);
    await copyBuildInto(host1(), '1.6.38', await cachedBuild('1.6.38'));
  });

  it('an upgrade that keeps every protocol passes all three gates, with their figures in the JSON events and no test key left', async () => {
    const port = host1().memcachedPort;
    await generateItems(direct(port), { seed: 61, count: 5_000, totalBytes: 4 * 1024 * 1024 });
    const original = await digestItems(direct(port));
    const playbook = await writeFleetPlaybook(lab, { hosts: [1], verify: loose });

    const applied = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const protocol = gate(applied.events, 'protocol');
    expect(protocol.status, protocol.detail).toBe('passed');
    if (protocol.gate !== 'protocol') throw new Error('not the protocol gate');
    expect(protocol.detail).toBe('text, meta, binary answer as on 1.6.18; auth none');
    expect(
      protocol.probes.map((p) => `${p.protocol} ${p.probe} ${p.before.answered} ${p.after?.answered}`),
    ).toEqual([
      'text version true true',
      'text get true true',
      'meta mn true true',
      'meta mg true true',
      'binary version true true',
      'binary stats true true',
      'binary get true true',
      'auth mode true true',
    ]);
    // The probes read a real sampled key, restored into 1.6.38: a hit on both sides.
    expect(protocol.probes.find((p) => p.protocol === 'binary' && p.probe === 'get')?.after?.reply).toBe(
      'hit',
    );

    const settings = gate(applied.events, 'settings');
    expect(settings.status, settings.detail).toBe('passed');
    if (settings.gate !== 'settings') throw new Error('not the settings gate');
    expect(settings.differences.filter((d) => d.client_visible)).toEqual([]);
    // Measured on the lab's two builds: 1.6.38 added client_flags_size and moved slab_automove_window.
    expect(settings.differences.map((d) => d.setting)).toEqual(['client_flags_size', 'slab_automove_window']);

    const performance = gate(applied.events, 'performance');
    expect(performance.status, performance.detail).toBe('passed');
    if (performance.gate !== 'performance') throw new Error('not the performance gate');
    for (const side of [performance.before, performance.after]) {
      expect(side?.rounds).toBe(5);
      expect(side?.sampled_keys).toBe(64);
      // The cache holds client items: memplay writes nothing into it.
      expect(side?.writes).toBe('none');
      for (const mode of [side?.single, side?.pipelined]) {
        expect(mode?.ops_per_sec).toBeGreaterThan(0);
        expect(mode?.p99_ms).toBeGreaterThanOrEqual(mode?.p50_ms ?? Number.NaN);
      }
    }
    expect(performance.min_throughput_ratio).toBe(0.01);
    expect(performance.max_latency_regression).toBe(50);

    const verify = taskEvents(applied).find((t) => t.task === 'verify');
    expect(verify?.detail).toMatch(/; gates: protocol passed, settings passed, performance passed$/);
    // Every gate event comes before verify's own result.
    const order = applied.events.map((e) => (e.event === 'gate' ? 'gate' : e.event === 'task' ? e.task : ''));
    expect(order.lastIndexOf('gate')).toBeLessThan(order.indexOf('verify'));
    expect(await memcachedVersion(port)).toBe('1.6.38');
    // Exactly the items there were: the load's own keys were deleted on both instances.
    expect(compareDigests(original, await digestItems(direct(port)))).toEqual([]);
    expect((await digestItems(direct(port))).size).toBe(original.size);
  });

  it('the hosts of one batch are measured together on both sides, and every host passes with its items exact', async () => {
    const hosts = [lab.hosts[0]!, lab.hosts[1]!, lab.hosts[2]!];
    await Promise.all(hosts.map((h) => ensureBuild(h, '1.6.38')));
    const originals = await Promise.all(
      hosts.map(async (h, i) => {
        await generateItems(direct(h.memcachedPort), {
          seed: 70 + i,
          count: 3_000,
          totalBytes: 2 * 1024 * 1024,
        });
        return digestItems(direct(h.memcachedPort));
      }),
    );
    const playbook = await writeFleetPlaybook(lab, { hosts: [1, 2, 3], serial: 3, verify: loose });

    const applied = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const performance = gateEvents(applied.events).filter((e) => e.gate === 'performance');
    expect(performance.map((e) => e.host).sort()).toEqual(hosts.map((h) => h.name).sort());
    for (const event of performance) {
      expect(event.status, `${event.host}: ${event.detail}`).toBe('passed');
      if (event.gate !== 'performance') throw new Error('not the performance gate');
      // One wave per side for the batch: the three old sides together, then the three new ones.
      expect(
        [event.before?.hosts_measured_together, event.after?.hosts_measured_together],
        `${event.host}: ${event.detail}`,
      ).toEqual([3, 3]);
      expect(event.detail).toContain('3 → 3 hosts measured at once');
    }
    for (const [i, h] of hosts.entries()) {
      expect(await memcachedVersion(h.memcachedPort)).toBe('1.6.38');
      expect(compareDigests(originals[i]!, await digestItems(direct(h.memcachedPort))), h.name).toEqual([]);
    }
  });

  it('-B ascii on the new instance: --check predicts it, apply fails the host naming the binary protocol and -B ascii, and the host rolls back with its data', async () => {
    const port = host1().memcachedPort;
    await generateItems(direct(port), { seed: 62, count: 5_000, totalBytes: 4 * 1024 * 1024 });
    const original = await digestItems(direct(port));
    const playbook = await writeFleetPlaybook(lab, {
      hosts: [1],
      memcachedArgs: ['-l', '127.0.0.1', '-m', '256', '-B', 'ascii'],
      verify: loose,
    });

    const check = await runMemplay(['apply', playbook, '--check', '--output', 'plain']);
    // A failure --check can see is a failed host: in the summary, and exit 2 as Ansible's check mode.
    expect(check.code, check.stdout + check.stderr).toBe(2);
    expect(check.stdout).toMatch(
      /^ {2}would fail: host1 at verify: protocol gate would fail: the binary protocol/m,
    );
    expect(check.stdout).toContain(
      'host1 verify gate protocol would fail: the binary protocol would stop answering: binding_protocol auto-negotiate → ascii (-B ascii)',
    );
    expect(check.stdout).toMatch(
      /^host1 verify gate settings would fail: would change for clients: binding_protocol auto-negotiate → ascii \(-B ascii\) — not in verify\.accept_settings; not predicted: defaults that moved between 1\.6\.18 and 1\.6\.38, and memcached\.args -l 127\.0\.0\.1 \(seen after the swap\)$/m,
    );
    expect(check.stdout).toMatch(/^host1 verify gate performance skipped: measured during apply/m);
    expect(await memcachedVersion(port)).toBe('1.6.18');

    const applied = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(2);
    const verify = taskEvents(applied).find((t) => t.task === 'verify');
    expect(verify?.status).toBe('failed');
    expect(verify?.detail).toMatch(
      /^protocol gate failed: binary protocol answered on 1\.6\.18 but not on 1\.6\.38 \(version: .+; stats: .+; get: .+\) — binding_protocol auto-negotiate → ascii, set by -B ascii in memcached\.args; settings gate failed: changed for clients: binding_protocol auto-negotiate → ascii — not in verify\.accept_settings/,
    );
    expect(gate(applied.events, 'protocol').status).toBe('failed');
    expect(gate(applied.events, 'performance').status).toBe('passed');
    const rollback = taskEvents(applied).find((t) => t.task === 'rollback');
    expect(rollback?.status, rollback?.detail).toBe('changed');
    expect(rollback?.detail).toMatch(
      new RegExp(
        `^rolled back to 1\\.6\\.18, serving on port ${port} with 5,000 items .*\\(after verify failed\\)$`,
      ),
    );
    expect(await memcachedVersion(port)).toBe('1.6.18');
    expect(compareDigests(original, await digestItems(direct(port)), 4)).toEqual([]);
    expect((await digestItems(direct(port))).size).toBe(original.size);
  });

  it('a setting change the playbook accepts passes, with the difference in the plain report', async () => {
    const port = host1().memcachedPort;
    await generateItems(direct(port), { seed: 63, count: 2_000, totalBytes: 2 * 1024 * 1024 });
    const playbook = await writeFleetPlaybook(lab, {
      hosts: [1],
      memcachedArgs: ['-l', '127.0.0.1', '-m', '256', '-c', '2048'],
      verify: { ...loose, accept_settings: ['maxconns'] },
    });

    const applied = await runMemplay(['apply', playbook, '--output', 'plain']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(
      /^host1 verify gate settings passed: accepted: maxconns 1024 → 2048; 2 other differences: client_flags_size \(not reported\) → 4, slab_automove_window 30 → 10$/m,
    );
    expect(applied.stdout).toMatch(
      /^host1 verify gate protocol passed: text, meta, binary answer as on 1\.6\.18; auth none$/m,
    );
    expect(applied.stdout).toMatch(
      /^host1 verify gate performance passed: single [\d,]+ → [\d,]+ ops\/s, p50 /m,
    );
    expect(applied.stdout).toMatch(
      /^host1 verify ok: .*; gates: protocol passed, settings passed, performance passed \(accepted: maxconns 1024 → 2048\)$/m,
    );
    expect(await memcachedVersion(port)).toBe('1.6.38');
  });

  it('an impossible throughput threshold fails the performance gate with its figures, and the host rolls back with its data', async () => {
    const port = host1().memcachedPort;
    await generateItems(direct(port), { seed: 64, count: 2_000, totalBytes: 2 * 1024 * 1024 });
    const original = await digestItems(direct(port));
    const playbook = await writeFleetPlaybook(lab, {
      hosts: [1],
      verify: { max_latency_regression: '5000%', min_throughput_ratio: 1000 },
    });

    const applied = await runMemplay(['apply', playbook, '--output', 'json']);
    expect(applied.code, applied.stdout + applied.stderr).toBe(2);
    const performance = gate(applied.events, 'performance');
    expect(performance.status).toBe('failed');
    if (performance.gate !== 'performance') throw new Error('not the performance gate');
    expect(performance.max_latency_regression).toBe(50);
    expect(performance.before?.single.ops_per_sec).toBeGreaterThan(0);
    expect(performance.after?.pipelined.ops_per_sec).toBeGreaterThan(0);
    expect(performance.detail).toMatch(
      // Single requests answered in under 0.1 ms are within the load's resolution even of this bound.
      /^(single throughput \d+% of before, below verify\.min_throughput_ratio 1000 in every round; )?pipelined throughput \d+% of before, below verify\.min_throughput_ratio 1000 in every round \(/,
    );
    const verify = taskEvents(applied).find((t) => t.task === 'verify');
    expect(verify?.detail).toMatch(/^performance gate failed: (single|pipelined) throughput/);
    expect(taskEvents(applied).find((t) => t.task === 'rollback')?.status).toBe('changed');
    expect(await memcachedVersion(port)).toBe('1.6.18');
    expect(compareDigests(original, await digestItems(direct(port)), 4)).toEqual([]);
    expect((await digestItems(direct(port))).size).toBe(original.size);
  });
});
