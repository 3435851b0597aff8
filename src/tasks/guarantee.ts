import type { SwapPath } from '../report/events.js';

// What a client can count on while and after a host is carried over, by the
// path swap takes. `--check` prints it under each host's plan; task events
// carry it as `swap_guarantee`. The counts the recap gives (possibly_stale,
// left_out) are what these sentences promise to count.

const guarantees: Readonly<Record<SwapPath, string>> = {
  warm: 'exact: the new build resumes the old one as it stopped; no client reads a value older than it wrote or a key it deleted, and no acknowledged write is lost (writes during the restart fail)',
  handover:
    "no client reads a value older than it wrote or a key it deleted; keys clients change in the old instance's last moments become misses (counted as left_out)",
  cold: 'no client reads a value the old instance had replaced (keys changed after the backup become misses, counted as left_out); a client delete of a key not yet restored can be undone by the restore (counted as possibly_stale, never fewer than happen)',
};

export function swapGuarantee(path: SwapPath): string {
  return guarantees[path];
}
