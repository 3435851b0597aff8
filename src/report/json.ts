import type { Stamped } from './envelope.js';
import type { RunEvent } from './events.js';

// JSON lines: one object per event, `event` first, then its envelope (run_id, ts,
// schema). Progress ticks and remote commands are noise for most consumers: they
// come only with -v.
export function jsonRenderer(
  write: (line: string) => void,
  verbose: boolean,
): (event: Stamped<RunEvent>) => void {
  return (event) => {
    if ((event.event === 'command' || event.event === 'progress') && !verbose) return;
    write(JSON.stringify(event));
  };
}
