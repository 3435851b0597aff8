import { afterAll, afterEach } from 'vitest';
import { installNoProcesses, takeRefusals } from '../support/no-processes.js';

// Every unit test file runs behind the fence: no child processes, no connections.
// The rule and the tiers are at the top of vitest.config.ts.

const uninstall = installNoProcesses();
afterAll(uninstall);

afterEach(() => {
  const refused = takeRefusals();
  if (refused.length > 0) throw new Error(refused.join('\n'));
});
