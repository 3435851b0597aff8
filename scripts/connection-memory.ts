import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';
import { gatherFacts } from '../src/facts/host-facts.js';
import { loadPlaybook } from '../src/playbook/index.js';
import { createConnector } from '../src/transport/connect.js';
import type { Transport } from '../src/transport/transport.js';
import { readLab, writeFleetPlaybook } from '../test/lab/index.js';

// `node --expose-gc dist/scripts/connection-memory.js --hosts 100,300,500`: what
// holding a host costs the controller between batches, the way `apply` holds it —
// its ssh2 connection open and its facts read — measured after a full GC at each
// size (heap, external and ArrayBuffers, RSS), and per host between the sizes.
// The lab must be up with at least the largest size (MEMPLAY_LAB_OFFSET as for it).

interface Reading {
  readonly hosts: number;
  readonly rssMb: number;
  readonly heapMb: number;
  readonly externalMb: number;
  readonly arrayBuffersMb: number;
}

function reading(hosts: number): Reading {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  const mb = (n: number) => Math.round(n / 1e5) / 10;
  return {
    hosts,
    rssMb: mb(m.rss),
    heapMb: mb(m.heapUsed),
    externalMb: mb(m.external),
    arrayBuffersMb: mb(m.arrayBuffers),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      hosts: { type: 'string', default: '100,300,500' },
      snapshot: { type: 'boolean', default: false },
    },
  });
  if (!(globalThis as { gc?: unknown }).gc) throw new Error('connection-memory: run node with --expose-gc');
  const sizes = values.hosts.split(',').map(Number);
  const lab = await readLab();
  if (!lab) throw new Error('connection-memory: no lab; run `npm run lab:up -- --hosts N` first');
  const largest = Math.max(...sizes);
  if (largest > lab.hosts.length) throw new Error(`connection-memory: the lab has ${lab.hosts.length} hosts`);
  const playbook = await loadPlaybook(
    await writeFleetPlaybook(lab, { hosts: lab.hosts.slice(0, largest).map((h) => h.index) }),
  );
  const connector = createConnector();
  const held: Transport[] = [];
  const readings: Reading[] = [reading(0)];
  let next = 0;
  for (const size of sizes) {
    const batch = playbook.hosts.slice(next, size);
    next = size;
    // 50 at once, as apply's default forks.
    for (let i = 0; i < batch.length; i += 50) {
      await Promise.all(
        batch.slice(i, i + 50).map(async (host) => {
          const transport = await connector.open(host);
          await gatherFacts(host, transport, { unlessBuilt: playbook.target.version });
          held.push(transport);
        }),
      );
    }
    readings.push(reading(size));
    process.stderr.write(`connection-memory: ${JSON.stringify(readings.at(-1))}\n`);
    // --snapshot: a heap snapshot at each size, for Chrome's DevTools or a script.
    if (values.snapshot) process.stderr.write(`connection-memory: ${writeHeapSnapshot()}\n`);
  }
  for (const [i, r] of readings.entries()) {
    const before = readings[i - 1];
    const perHost = before
      ? ` — ${(((r.rssMb - before.rssMb) / (r.hosts - before.hosts)) * 1000).toFixed(0)} kB RSS, ${(((r.heapMb - before.heapMb) / (r.hosts - before.hosts)) * 1000).toFixed(0)} kB heap, ${(((r.externalMb - before.externalMb) / (r.hosts - before.hosts)) * 1000).toFixed(0)} kB external a host since the last size`
      : '';
    process.stdout.write(
      `${r.hosts} hosts: RSS ${r.rssMb} MB, heap ${r.heapMb} MB, external ${r.externalMb} MB (ArrayBuffers ${r.arrayBuffersMb} MB)${perHost}\n`,
    );
  }
  await Promise.all(held.map((t) => t.close().catch(() => {})));
  await connector.close();
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
