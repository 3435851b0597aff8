/**
 * node dist/test/lab/cli.js up [--hosts N] | down | reset | status | seed [--items N]
 * (npm run lab:up / lab:down / lab:reset / lab:status build first.)
 */
import { parseArgs } from 'node:util';
import { isLabRunning, labDown, labStatus, labUp, readLab, resetLab } from './index.js';
import { generateItems, loopbackConnection } from './items/generator.js';
import { maxLabHosts } from './layout.js';

const usage = 'usage: lab up [--hosts N] | down | reset | status | seed [--items N]';

async function main(argv: readonly string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { hosts: { type: 'string' }, items: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command || rest.length > 0) {
    console.log(usage);
    return values.help ? 0 : 5;
  }
  switch (command) {
    case 'up': {
      const hosts = values.hosts === undefined ? 3 : Number(values.hosts);
      if (!Number.isInteger(hosts) || hosts < 1 || hosts > maxLabHosts) {
        console.error(`lab: --hosts must be a whole number from 1 to ${maxLabHosts}, got ${values.hosts}`);
        return 5;
      }
      const started = performance.now();
      const lab = await labUp({ hosts });
      console.error(`lab: ${hosts} host(s) up in ${((performance.now() - started) / 1000).toFixed(1)}s`);
      console.log(lab.playbook);
      return 0;
    }
    case 'down':
      await labDown();
      return 0;
    case 'seed': {
      // Fills every host with the adversarial item mix, so an upgrade has data to carry.
      const lab = await readLab();
      const items = values.items === undefined ? 20_000 : Number(values.items);
      if (!lab || !Number.isInteger(items) || items < 1) {
        console.error(
          lab
            ? `lab: --items must be a whole number ≥ 1, got ${values.items}`
            : 'lab: run `npm run lab:up` first',
        );
        return lab ? 5 : 1;
      }
      await Promise.all(
        lab.hosts.map(async (host) => {
          const set = await generateItems(loopbackConnection(host.memcachedPort), {
            seed: host.index,
            count: items,
            totalBytes: items * 1200,
          });
          console.error(
            `lab: ${host.name} holds ${set.count} items / ${(set.valueBytes / 1e6).toFixed(1)} MB`,
          );
        }),
      );
      return 0;
    }
    case 'reset': {
      const lab = await readLab();
      if (!lab) {
        console.error('lab: no lab to reset — run `npm run lab:up` first');
        return 1;
      }
      await resetLab(lab);
      console.log(lab.playbook);
      return 0;
    }
    case 'status': {
      const lab = await readLab();
      if (!lab) {
        console.log('lab: not set up (no .lab/lab.json)');
        return 1;
      }
      for (const s of await labStatus(lab)) {
        const sshd =
          s.sshdPid === null ? 'sshd down' : `sshd pid ${s.sshdPid}${s.sshUp ? '' : ' (not listening)'}`;
        const memcached =
          s.memcachedVersion === null
            ? 'memcached down'
            : `memcached ${s.memcachedVersion}${s.memcachedPid === null ? ' (not under the lab pidfile)' : ` pid ${s.memcachedPid}`}`;
        console.log(`${s.host}\t${sshd}\t${memcached}`);
      }
      console.log(lab.playbook);
      return (await isLabRunning(lab)) ? 0 : 1;
    }
    default:
      console.error(`lab: unknown command ${command}\n${usage}`);
      return 5;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  },
);
