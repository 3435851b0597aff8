import { readFile, writeFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import type { Lab, LabHost } from '../../test/lab/index.js';
import { type FleetOverrides, writeFleetPlaybook } from '../../test/lab/index.js';

// The lab playbook for a live run. writeFleetPlaybook sets one `memcached.args`
// for every host, but a warm restart needs each host on its own memory file
// (`-e /dev/shm/<user>-memcached.mem`): those go on the hosts themselves, where
// the playbook format lets a host's own list replace the default one.

export async function livePlaybook(
  lab: Lab,
  hosts: readonly LabHost[],
  overrides: FleetOverrides,
  argsOf?: (host: LabHost) => readonly string[],
): Promise<string> {
  const path = await writeFleetPlaybook(lab, { ...overrides, hosts: hosts.map((h) => h.index) });
  if (!argsOf) return path;
  const document = parseDocument(await readFile(path, 'utf8'));
  for (const host of hosts) document.setIn(['hosts', host.name, 'memcached', 'args'], [...argsOf(host)]);
  const perHost = path.replace(/\.yml$/, '-per-host-args.yml');
  await writeFile(perHost, document.toString());
  return perHost;
}
