import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetaClient } from '../../src/memcached/meta-client.js';
import { predictSettings } from '../../src/memcached/start-args.js';
import { gateKeyPrefix, measurePerformance } from '../../src/tasks/gates/performance-gate.js';
import { probeAgainIfTimedOut, probeProtocols, protocolGate } from '../../src/tasks/gates/protocol-gate.js';
import { diffSettings } from '../../src/tasks/gates/settings-gate.js';
import { type LocalMemcached, startMemcached } from '../lab/items/memcached-server.js';

// verify's gate probes against real memcached (/usr/bin/memcached): what each
// protocol answers with and without `-B ascii`, that the load leaves none of
// its keys behind, and that the settings predicted from start arguments are
// what memcached then reports.

let both: LocalMemcached;
let ascii: LocalMemcached;
const predictedArgs = ['-I', '2m', '-c', '500', '-B', 'ascii', '-m', '100', '-M'];
let predicted: LocalMemcached;

async function settingsOf(server: LocalMemcached): Promise<Record<string, string>> {
  const client = await MetaClient.connect(server.connect, { connections: 1 });
  try {
    return Object.fromEntries(await client.statsSettings());
  } finally {
    client.close();
  }
}

async function store(server: LocalMemcached, key: string, value: string): Promise<void> {
  const socket = await server.connect();
  await new Promise<void>((resolve) => {
    socket.once('data', () => resolve());
    socket.write(`set ${key} 5 0 ${value.length}\r\n${value}\r\n`);
  });
  socket.destroy();
}

beforeAll(async () => {
  [both, ascii, predicted] = await Promise.all([
    startMemcached(),
    startMemcached({ extraArgs: ['-B', 'ascii'] }),
    startMemcached({ extraArgs: predictedArgs }),
  ]);
  await store(both, 'user:1', 'hello');
  await store(ascii, 'user:1', 'hello');
});

afterAll(async () => {
  await Promise.all([both?.stop(), ascii?.stop(), predicted?.stop()]);
});

describe('protocol probes', () => {
  it('a default memcached answers text, meta and binary, reads the key as a hit, and demands no auth', async () => {
    const probes = await probeProtocols(both.connect, 'user:1', await settingsOf(both));
    expect(probes.map((p) => [p.protocol, p.probe, p.answer.answered, p.answer.reply])).toEqual([
      ['text', 'version', true, expect.stringMatching(/^VERSION 1\.6\./)],
      ['text', 'get', true, 'hit'],
      ['meta', 'mn', true, 'MN'],
      ['meta', 'mg', true, 'hit'],
      ['binary', 'version', true, expect.stringMatching(/^VERSION 1\.6\./)],
      ['binary', 'stats', true, expect.stringMatching(/^\d+ stats$/)],
      ['binary', 'get', true, 'hit'],
      ['auth', 'mode', true, 'none'],
    ]);
  });

  it('asks again, with five times the time, a probe that timed out where the old instance answered, and nothing the old one did not answer', async () => {
    const settings = await settingsOf(both);
    const before = await probeProtocols(both.connect, 'user:1', settings);
    // A starved host: every connection takes longer to open than the first asking waits.
    let opened = 0;
    const slowly = async () => {
      opened++;
      await sleep(400);
      return both.connect();
    };
    const timedOut = await probeProtocols(slowly, 'user:1', settings, 200);
    expect(timedOut.filter((p) => p.protocol !== 'auth').every((p) => !p.answer.answered)).toBe(true);
    expect(
      protocolGate(before, timedOut, { oldVersion: 'a', newVersion: 'b', settingDifferences: [], args: [] })
        .status,
    ).toBe('failed');
    const asked = await probeAgainIfTimedOut(slowly, 'user:1', settings, before, timedOut, 200);
    expect(asked.map((p) => [p.protocol, p.probe, p.answer.answered])).toEqual(
      before.map((p) => [p.protocol, p.probe, p.answer.answered]),
    );
    expect(
      protocolGate(before, asked, { oldVersion: 'a', newVersion: 'b', settingDifferences: [], args: [] })
        .status,
    ).toBe('passed');
    // Silence the old instance met too (-B ascii: binary never answers) is not asked again.
    const ascii1 = await probeProtocols(ascii.connect, 'user:1', await settingsOf(ascii));
    const ascii2 = await probeProtocols(ascii.connect, 'user:1', await settingsOf(ascii));
    opened = 0;
    expect(await probeAgainIfTimedOut(slowly, 'user:1', settings, ascii1, ascii2, 200)).toBe(ascii2);
    expect(opened).toBe(0);
  });

  it('-B ascii: binary does not answer, and the gate names the protocol, the setting and the argument', async () => {
    const beforeSettings = await settingsOf(both);
    const afterSettings = await settingsOf(ascii);
    const before = await probeProtocols(both.connect, 'user:1', beforeSettings);
    const after = await probeProtocols(ascii.connect, 'user:1', afterSettings);
    expect(after.filter((p) => !p.answer.answered).map((p) => `${p.protocol} ${p.probe}`)).toEqual([
      'binary version',
      'binary stats',
      'binary get',
    ]);
    const gate = protocolGate(before, after, {
      oldVersion: 'old',
      newVersion: 'new',
      settingDifferences: diffSettings(beforeSettings, afterSettings, []),
      args: ['-l', '127.0.0.1', '-B', 'ascii'],
    });
    expect(gate.status).toBe('failed');
    expect(gate.detail).toMatch(
      /^binary protocol answered on old but not on new \(version: .+\) — binding_protocol auto-negotiate → ascii, set by -B ascii in memcached\.args$/,
    );
  });
});

describe('the load', () => {
  it('measures single and pipelined figures and leaves none of its keys behind', async () => {
    const itemsBefore = (await settingsOfStats(both)).curr_items;
    const side = await measurePerformance(both.connect, ['user:1'], 64);
    for (const mode of [side.single, side.pipelined]) {
      expect(mode.ops_per_sec).toBeGreaterThan(0);
      expect(mode.p99_ms).toBeGreaterThanOrEqual(mode.p50_ms);
    }
    expect(side.rounds).toBe(5);
    expect(side.hosts_measured_together).toBe(1);
    expect((await settingsOfStats(both)).curr_items).toBe(itemsBefore);
    const client = await MetaClient.connect(both.connect, { connections: 1 });
    try {
      const left: string[] = [];
      await client.metadump('all', (entry) => {
        const key = entry.key.toString('latin1');
        if (key.startsWith(gateKeyPrefix)) left.push(key);
      });
      expect(left).toEqual([]);
    } finally {
      client.close();
    }
  });
});

describe('the loads of one batch', () => {
  it('run together, in about the time of one, and each says how many ran at once', async () => {
    const started = performance.now();
    const sides = await Promise.all([
      measurePerformance(both.connect, ['user:1'], 64, 2),
      measurePerformance(ascii.connect, [], 64, 2),
    ]);
    const elapsedMs = performance.now() - started;
    expect(sides.map((s) => s.hosts_measured_together)).toEqual([2, 2]);
    // One load is 5 rounds × 100 ms in each of two modes: two in a row would take 2 s or more.
    expect(elapsedMs).toBeLessThan(1900);
  });
});

async function settingsOfStats(server: LocalMemcached): Promise<Record<string, string>> {
  const client = await MetaClient.connect(server.connect, { connections: 1 });
  try {
    return Object.fromEntries(await client.stats());
  } finally {
    client.close();
  }
}

describe('settings predicted from start arguments', () => {
  it('are what memcached started with them reports', async () => {
    const actual = await settingsOf(predicted);
    const prediction = predictSettings(['-U', '0', ...predictedArgs]);
    expect(prediction.unpredictable).toEqual([]);
    for (const setting of prediction.settings) {
      expect({ setting: setting.setting, value: actual[setting.setting] }).toEqual({
        setting: setting.setting,
        value: setting.value,
      });
    }
  });

  it('fall back to memcached defaults, which a default memcached reports', async () => {
    const actual = await settingsOf(both);
    // startMemcached passes -m 256 and -U 0; the rest are defaults.
    const prediction = predictSettings(['-m', '256', '-U', '0', '-l', '127.0.0.1']);
    expect(prediction.unpredictable).toEqual(['-l', '127.0.0.1']);
    for (const setting of prediction.settings)
      expect([setting.setting, actual[setting.setting]]).toEqual([setting.setting, setting.value]);
  });
});
