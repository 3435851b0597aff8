import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadPlaybook } from '../src/playbook/index.js';
import { createConnector } from '../src/transport/connect.js';
import { sh } from '../src/transport/quote.js';
import { readLab, writeFleetPlaybook } from '../test/lab/index.js';

// `node dist/scripts/ssh-cost.js --hosts 100 --commands 0,1,4`: what one SSH login and
// each command on it cost the whole machine (controller, sshd, the login shell), in
// CPU milliseconds a host: memplay's transport connects to the lab's first N hosts, 25
// at a time, runs `true` that many times on each and disconnects, while /proc/stat
// counts the machine's busy time. With the hosts on this machine, that is the price of
// a host's facts that no change in memplay's own code can lower. The lab must be up.

function busyTicks(): number {
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] =
    readFileSync('/proc/stat', 'utf8').split('\n')[0]?.split(/\s+/).slice(1).map(Number) ?? [];
  return user + nice + system + irq + softirq;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { hosts: { type: 'string', default: '100' }, commands: { type: 'string', default: '0,1,4' } },
  });
  const lab = await readLab();
  if (!lab) throw new Error('ssh-cost: no lab; run `npm run lab:up -- --hosts N` first');
  const count = Math.min(Number(values.hosts), lab.hosts.length);
  const playbook = await loadPlaybook(
    await writeFleetPlaybook(lab, { hosts: lab.hosts.slice(0, count).map((h) => h.index) }),
  );
  for (const commands of values.commands.split(',').map(Number)) {
    const before = busyTicks();
    const started = Date.now();
    const connector = createConnector();
    for (let i = 0; i < playbook.hosts.length; i += 25) {
      await Promise.all(
        playbook.hosts.slice(i, i + 25).map(async (host) => {
          const transport = await connector.open(host);
          for (let k = 0; k < commands; k++) await transport.run(sh`true`);
          await transport.close();
        }),
      );
    }
    await connector.close();
    // USER_HZ is 100 on Linux: a tick is 10 ms.
    const busyMs = (busyTicks() - before) * 10;
    process.stdout.write(
      `${commands} command(s) a login, ${count} hosts: ${((Date.now() - started) / 1000).toFixed(1)} s, machine busy ${(busyMs / 1000).toFixed(1)} CPU s, ${(busyMs / count).toFixed(0)} ms a host\n`,
    );
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
