import type { Diagnostic } from '../errors.js';
import { credentialsProblem } from '../memcached/ascii-auth.js';
import { minimumSecretLength } from './secret-keys.js';
import type { PlaybookSource } from './source.js';
import type { HostConfig } from './types.js';

// A memcached with `-Y` answers nothing without credentials; a variable that
// is not set would surface per host as "memcached does not answer" halfway
// through a run. It is checked like an identity_file: before any host is
// contacted, at the line that names it. `validate` does not look: the variable
// may be set only where `apply` runs. The values are never quoted in a message.

export async function authVariableProblems(
  source: PlaybookSource,
  hosts: readonly HostConfig[],
  environment: NodeJS.ProcessEnv = process.env,
): Promise<Diagnostic[]> {
  const found = new Map<string, Diagnostic>();
  for (const host of hosts) {
    const auth = host.memcached.auth;
    if (!auth) continue;
    const own = ['hosts', host.name, 'memcached', 'auth'];
    const base = source.nodeAt(own) ? own : ['defaults', 'memcached', 'auth'];
    const check = (key: 'user_env' | 'password_env', variable: string) => {
      const value = environment[variable];
      const problem =
        value === undefined || value === ''
          ? 'is not set'
          : key === 'password_env' && value.length < minimumSecretLength
            ? `holds a password of ${value.length} character${value.length === 1 ? '' : 's'}, shorter than the ` +
              `${minimumSecretLength} memplay can keep out of its output (it is redacted by value)`
            : credentialsProblem(
                key === 'user_env' ? { user: value, password: 'x' } : { user: 'x', password: value },
              );
      if (problem === undefined) return;
      const path = [...base, key];
      found.set(
        `${path.join('.')}:${variable}`,
        source.diagnostic(
          path,
          `${base.join('.')}.${key}: the environment variable ${variable} ${problem} (memcached credentials of ${host.name}); ` +
            `export ${variable} before running memplay`,
        ),
      );
    };
    check('user_env', auth.userVariable);
    check('password_env', auth.passwordVariable);
  }
  return [...found.values()];
}
