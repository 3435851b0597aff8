// What every bench script does around its measurements: a step that breaks is
// logged and kept for the report instead of ending the run, and the process
// exits non-zero only when the bench itself broke.

import { errorMessage } from '../../src/errors.js';

export interface BrokenStep {
  readonly step: string;
  readonly message: string;
}

/** Runs `measure`; on failure logs it, records it in `broken` and yields undefined. */
export function stepRecorder(log: (message: string) => void, broken: BrokenStep[]) {
  return async <T>(step: string, measure: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await measure();
    } catch (error) {
      const message = errorMessage(error);
      log(`${step} broke: ${message}`);
      broken.push({ step, message });
      return undefined;
    }
  };
}

/** Runs a bench's main and turns its result (or an error before measuring) into the exit status. */
export function runBench(main: () => Promise<number>, log: (message: string) => void): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      log(
        `broke before measuring: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
      );
      process.exitCode = 1;
    },
  );
}
