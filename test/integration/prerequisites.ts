import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

// The integration tier's global setup: what its tests run, checked once before any of
// them, so a missing tool is one clear message instead of ENOENT in a dozen tests.

const tools = [
  { path: '/usr/bin/memcached', hint: 'apt-get install memcached (scripts/install-deps.sh does)' },
  { path: '/usr/bin/ssh-keygen', hint: 'apt-get install openssh-client' },
  {
    path: '/usr/bin/openssl',
    hint: 'apt-get install openssl (the TLS tests make their certificates with it)',
  },
  { path: '/bin/sh', hint: 'a POSIX shell' },
  { path: '/bin/bash', hint: 'apt-get install bash' },
  {
    path: '/usr/bin/fish',
    hint: 'apt-get install fish (scripts/install-deps.sh does): a login shell that is not POSIX',
  },
];

function newestUnder(folder: string): { file: string; mtimeMs: number } {
  let newest = { file: folder, mtimeMs: 0 };
  for (const entry of readdirSync(folder, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const file = join(entry.parentPath, entry.name);
    const { mtimeMs } = statSync(file);
    if (mtimeMs > newest.mtimeMs) newest = { file, mtimeMs };
  }
  return newest;
}

/** What is missing or stale, one line each; empty when the tier can run. */
export function missingPrerequisites(): string[] {
  const problems: string[] = [];
  for (const { path, hint } of tools) {
    try {
      accessSync(path, constants.X_OK);
    } catch {
      problems.push(`${path} is missing or not executable: ${hint}`);
    }
  }
  // The CLI tests run bin/memplay.js, which runs dist/: a build older than src/ tests old code.
  const cli = 'dist/src/cli/main.js';
  let built: number | undefined;
  try {
    built = statSync(cli).mtimeMs;
  } catch {
    problems.push(`${cli} is missing: run npm run build first`);
  }
  const newest = newestUnder('src');
  if (built !== undefined && newest.mtimeMs > built)
    problems.push(`${newest.file} is newer than ${cli}: run npm run build first`);
  return problems;
}

export default function setup(): void {
  const problems = missingPrerequisites();
  if (problems.length > 0) throw new Error(`test/integration cannot run:\n  ${problems.join('\n  ')}`);
}
