import { open, stat } from 'node:fs/promises';
import type { Diagnostic } from '../errors.js';
import { type SettingPlace, settingPlace } from './hosts-from.js';
import type { Inventory } from './inventory.js';
import type { PlaybookSource } from './source.js';
import type { HostConfig } from './types.js';

// An identity_file that is missing or not a file would otherwise surface per host as
// "unreachable" (exit 3) once the run has started. It is a mistake in the playbook (or
// its inventory's ansible_ssh_private_key_file), so it is reported like one — at the
// line that sets it — before any host is contacted.
// `validate` does not look: the key may live only on the machine that runs `apply`.

/** Problems with the identity files the given hosts log in with; one per place that sets a file. */
export async function identityFileProblems(
  source: PlaybookSource,
  hosts: readonly HostConfig[],
  inventory?: Inventory,
): Promise<Diagnostic[]> {
  const usersBySetting = new Map<string, { place: SettingPlace; file: string; hosts: string[] }>();
  for (const host of hosts) {
    if (host.connection !== 'ssh' || host.ssh.identityFile === undefined) continue;
    // A key named by the ssh config is used only if it exists, as OpenSSH does.
    const place = settingPlace(source, inventory, host.name, ['ssh', 'identity_file']);
    if (place === undefined) continue;
    const key =
      place.kind === 'playbook'
        ? place.path.join('\0')
        : `${place.origin.file}:${place.origin.line}:${place.origin.col}`;
    const setting = usersBySetting.get(key) ?? { place, file: host.ssh.identityFile, hosts: [] };
    setting.hosts.push(host.name);
    usersBySetting.set(key, setting);
  }
  const found: Diagnostic[] = [];
  for (const { place, file, hosts: users } of usersBySetting.values()) {
    const problem = await unreadableBecause(file);
    if (problem === undefined) continue;
    const needed = `cannot read ${file} (${problem}), needed to log in to ${users.join(', ')}`;
    if (place.kind === 'inventory') {
      const { variable, file: inventoryFile, line, col } = place.origin;
      found.push({
        file: inventoryFile,
        line,
        col,
        message:
          `${variable}: ${needed}; give the path of a private key file on this machine (a relative one starts ` +
          "at the inventory's folder), or remove it to use ssh-agent",
      });
      continue;
    }
    const where = place.path.slice(0, -1).join('.');
    found.push(
      source.diagnostic(
        place.path,
        `${where}.identity_file: ${needed}; ` +
          'give the path of a private key file on this machine, or remove identity_file to use ssh-agent',
      ),
    );
  }
  return found;
}

async function unreadableBecause(file: string): Promise<string | undefined> {
  try {
    // stat first: opening a FIFO for reading would wait for a writer.
    const info = await stat(file);
    if (info.isDirectory()) return 'it is a folder';
    if (!info.isFile()) return 'it is not a regular file';
    const handle = await open(file, 'r');
    await handle.close();
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'no such file';
    if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
    return (error as Error).message;
  }
}
