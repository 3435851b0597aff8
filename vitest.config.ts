import { defineConfig } from 'vitest/config';

// Three tiers; a test goes in the first one that can hold it:
//   test/unit         pure code: no child process, no connection, no lab. Any user, seconds.
//                     test/unit/setup.ts makes spawn/exec/fork and socket connects throw.
//   test/integration  local processes without root: the built CLI (npm run build first),
//                     /usr/bin/memcached, ssh-keygen, /bin/sh, the local transport, a
//                     loopback listener.
//   test/e2e          the lab fleet (root): real sshd, real builds, live traffic.
// Helpers used by one tier live beside its tests; helpers of two tiers in test/support/.

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          setupFiles: ['test/unit/setup.ts'],
          // Pure tests share a worker's loaded modules instead of importing src/ (and compiling
          // the schemas) again for every file: a third of the CPU time. So a unit test leaves
          // nothing behind: fake timers, spies and mocks are restored in afterEach.
          isolate: false,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/prerequisites.ts'],
          // They spawn the built CLI, memcached or /bin/sh; beside other work on 2 cores,
          // vitest's default 5 s timed them out.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/lab/global-setup.ts'],
          // The lab is one shared fleet: e2e files take turns on it.
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
