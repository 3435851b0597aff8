import type { RunEvent } from './events.js';

// JSON lines: one object per event, `event` first. Commands (-v) are included only when verbose.
export function jsonRenderer(write: (line: string) => void, verbose: boolean): (event: RunEvent) => void {
  return (event) => {
    if (event.event === 'command' && !verbose) return;
    if (event.event === 'task-start' || event.event === 'progress') {
      if (!verbose) return;
    }
    write(JSON.stringify(event));
  };
}
