import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { backupFullPass, CasIndex, restoreBackup } from '../src/memcached/backup-pass.js';
import { verifyBackup } from '../src/memcached/backup-reader.js';
import { createBackupWriter } from '../src/memcached/backup-writer.js';
import { NewSideGuard } from '../src/memcached/new-side-guard.js';
import { labUp, resetLab, writeFleetPlaybook } from '../test/lab/index.js';
import { generateItems } from '../test/lab/items/generator.js';
import { runBench } from './bench/entry.js';
import { restartWithMemory } from './bench/lab-host.js';
import { textCommand } from './bench/memcached-tool.js';
import { DATA_SET, directFactory } from './bench/steps.js';
import { connectThroughSsh } from './bench/tunnel.js';

// `npm run bench:restore [-- --runs N] [-- --fresh] [-- --as-apply]`: the restore alone, N times on the same
// backup of the bench's 100k items / ~120 MB, through the SSH tunnel into a
// flushed host1 (`--fresh`: into a just-started memcached, as after a swap,
// which must allocate its slab pages while it stores). Prints wall time, MB/s and the controller's CPU time per run,
// so a change to the restore path can be compared run against run (and run
// under `node --cpu-prof` to see where the time goes). The out-of-service
// window of a cold upgrade is stop + start + this.

function log(message: string): void {
  process.stderr.write(`bench:restore: ${message}\n`);
}

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} takes a whole number above 0`);
  return value;
}

async function main(): Promise<number> {
  const runs = option('--runs', 5);
  const fresh = process.argv.includes('--fresh');
  // As the restore task runs it: with the new-side guard watching lookups and taking every stored cas.
  const asApply = process.argv.includes('--as-apply');
  const lab = await labUp();
  const host = lab.hosts[0];
  if (!host) throw new Error('the lab has no host1');
  await resetLab(lab, { keepBuilds: [lab.targetVersion] });
  const playbook = await writeFleetPlaybook(lab, { hosts: [1] });
  const dir = join(lab.dir, 'bench-restore');
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  log(`loading ${DATA_SET.count} items / ${DATA_SET.totalBytes / 1e6} MB into ${host.name}`);
  await generateItems(directFactory(host.memcachedPort), DATA_SET);

  const link = await connectThroughSsh(playbook, host.name);
  let path: string;
  try {
    const clock = await link.client.serverClock();
    const writer = await createBackupWriter({
      dir,
      host: host.name,
      memcachedVersion: await link.client.version(),
      serverTime: clock.now(),
    });
    await backupFullPass(link.client, writer, new CasIndex(), clock);
    path = (await writer.finish()).path;
  } finally {
    await link.close();
  }
  const verification = await verifyBackup(path);
  if (!verification.ok) throw verification.error;
  const { header } = verification;
  log(`backup: ${header.items} items, ${(header.valueBytes / 1e6).toFixed(1)} MB of values`);

  const rows: string[] = [];
  for (let run = 1; run <= runs; run++) {
    if (fresh) await restartWithMemory(host, 256);
    else {
      const flushed = await textCommand(host.memcachedPort, 'flush_all');
      if (flushed !== 'OK') throw new Error(`flush_all: ${flushed}`);
      // flush_all marks items invalid as of this second: restored items must be newer.
      await new Promise((resolve) => setTimeout(resolve, 1100));
    }
    const tunnel = await connectThroughSsh(playbook, host.name);
    let guard: NewSideGuard | undefined;
    try {
      const cpu = process.cpuUsage();
      const started = performance.now();
      guard = asApply ? await NewSideGuard.open(tunnel.openTcp, tunnel.client, header.items) : undefined;
      const restored = await restoreBackup(tunnel.client, path, {
        mode: 'add',
        alreadyVerified: header,
        ...(guard && { onStored: guard.onStored }),
      });
      if (guard) await guard.settle(tunnel.client);
      const wallMs = performance.now() - started;
      const used = process.cpuUsage(cpu);
      const cpuMs = (used.user + used.system) / 1000;
      const row = `run ${run}: ${restored.stored} stored, ${(wallMs / 1000).toFixed(2)} s, ${(restored.valueBytes / 1e6 / (wallMs / 1000)).toFixed(1)} MB/s, controller CPU ${(cpuMs / 1000).toFixed(2)} s`;
      log(row);
      rows.push(row);
      if (restored.stored !== header.items)
        throw new Error(`run ${run} stored ${restored.stored} of ${header.items}`);
    } finally {
      // The guard closes its watch before the client it was given (new-side-guard.ts).
      guard?.close();
      await tunnel.close();
    }
  }
  await resetLab(lab, { keepBuilds: [lab.targetVersion] });
  process.stdout.write(`${rows.join('\n')}\n`);
  return 0;
}

runBench(main, log);
