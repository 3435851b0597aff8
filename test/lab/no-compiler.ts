import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './exec.js';
import type { LabHost } from './layout.js';

// A host as hardened images make them: the ssh user's PATH has every tool but a C
// compiler and make. The lab's sshd accepts PATH from ~/.ssh/environment
// (PermitUserEnvironment PATH), so only logins after this see it; removing the
// file puts the host back as every other test expects it.

/** Programs that compile or drive a compile; anything else on the PATH stays. */
const compilerNames =
  /^(cc|c89|c99|gcc|g\+\+|c\+\+|cpp|clang.*|tcc|make|gmake|[a-z0-9_]+-linux-gnu-.*|gcc-.*|g\+\+-.*|cpp-.*)$/;

const binDir = (host: LabHost) => join(host.home, 'bin-without-compiler');
const environmentFile = (host: LabHost) => join(host.home, '.ssh', 'environment');

/** Gives the host's ssh user a PATH without cc, gcc or make. */
export async function removeCompiler(host: LabHost): Promise<void> {
  const dir = binDir(host);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const linked = new Set<string>();
  for (const source of ['/usr/local/bin', '/usr/bin', '/bin']) {
    if (!existsSync(source)) continue;
    for (const name of readdirSync(source)) {
      if (compilerNames.test(name) || linked.has(name)) continue;
      linked.add(name);
      await symlink(join(source, name), join(dir, name));
    }
  }
  await writeFile(environmentFile(host), `PATH=${dir}\n`, { mode: 0o600 });
  await run('chown', ['-h', '-R', `${host.user}:${host.user}`, dir, environmentFile(host)]);
}

/** The host's ssh user gets the system PATH back. */
export async function restoreCompiler(host: LabHost): Promise<void> {
  await rm(environmentFile(host), { force: true });
  await rm(binDir(host), { recursive: true, force: true });
}
