import { readdirSync, readFileSync } from 'node:fs';

/**
 * Other processes that drive the lab (e2e tests, memplay runs): they compete
 * for the same memcached and CPU, so the report says so rather than hide it.
 */
export function otherLabUsers(): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let commandLine: string;
    try {
      commandLine = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
    } catch {
      continue;
    }
    if (/vitest\/dist\/workers|memplay\.js apply|test\/lab\/cli\.js/.test(commandLine)) {
      found.push(`pid ${entry}: ${commandLine.slice(0, 160)}`);
    }
  }
  return found;
}
