// Loads vitest's types so the augmentation below has a module to extend when this file
// is compiled on its own (tsconfig.build.json, which leaves the tests out).
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { isLabRunning, type Lab, labDown, labUp, readLab } from './index.js';
import { describeLab } from './layout.js';

declare module 'vitest' {
  export interface ProvidedContext {
    lab: Lab;
  }
}

/**
 * Brings the 3-host lab up once per test run and hands its description to the tests
 * (`inject('lab')`). A lab that was already running (`npm run lab:up`) is left running
 * afterwards; one this run started is stopped again, by pidfile.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const wasRunning = await isLabRunning((await readLab()) ?? describeLab(3)).catch(() => false);
  let lab: Lab;
  try {
    lab = await labUp({ hosts: 3 });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `the e2e lab did not come up: ${reason}\n` +
        'The lab needs root and the packages and tarballs of `sudo scripts/install-deps.sh`.',
    );
  }
  project.provide('lab', lab);
  return async () => {
    if (!wasRunning) await labDown(lab);
  };
}
