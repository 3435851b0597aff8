import { formatBytes, formatSeconds } from '../units.js';
import type { BatchPosition, RunEvent } from './events.js';
import { planView } from './plan-view.js';
import { formatRecap } from './recap.js';

// One line per result, for logs and pipes: `host1 build changed: built 1.6.38 in 9.8s`.
export function plainRenderer(write: (line: string) => void, verbose: boolean): (event: RunEvent) => void {
  const plan = planView();
  return (event) => {
    plan.add(event);
    switch (event.event) {
      case 'start':
        write(runHeader(event));
        return;
      case 'batch':
        write(
          `-- ${event.phase} batch ${event.batch} of ${event.batches}: ${event.hosts.join(', ')}${event.on_target ? ' (already on target: nothing is stopped)' : ''}`,
        );
        return;
      case 'pause':
        write(`-- ${pauseLine(event, event.seconds)}`);
        return;
      case 'confirm':
        write(`-- ${batchLine(event)} — continue? ${event.answer}${event.assumed ? ' (--yes)' : ''}`);
        return;
      case 'task': {
        const mode = event.check && event.status === 'changed' ? 'would change' : event.status;
        write(`${event.host} ${event.task} ${mode}: ${event.detail}`);
        return;
      }
      case 'gate':
        write(gateLine(event));
        return;
      case 'unreachable':
        write(`${event.host} UNREACHABLE (${event.reason}): ${event.detail}`);
        return;
      case 'host-key-accepted':
        write(hostKeyAcceptedLine(event));
        return;
      case 'ssh-legacy-algorithms':
        write(legacyAlgorithmsLine(event));
        return;
      case 'aborted':
        write(`ABORTED: ${event.reason}`);
        return;
      case 'plan-drift':
        write(planDriftLine(event));
        return;
      case 'backups-pruned':
        write(backupsPrunedLine(event));
        return;
      case 'plan-summary':
        for (const line of plan.lines(event)) write(line);
        return;
      case 'command':
        if (verbose) {
          write(`${event.host} $ ${event.command}  # exit ${event.code}, ${event.duration_ms} ms`);
          const output = `${event.stdout}${event.stderr}`.trimEnd();
          if (output) write(output.replace(/^/gm, `${event.host} | `));
        }
        return;
      case 'recap':
        write(formatRecap(event.hosts));
        if (event.interrupted) write('interrupted: running steps finished, nothing new was started');
        if (event.journal) write(`journal: ${event.journal}`);
        if (event.log) write(`log: ${event.log}`);
        return;
      default:
        return;
    }
  };
}

/** `host1 verify gate protocol passed: …`; the live view prints the same line. */
export function gateLine(event: Extract<RunEvent, { event: 'gate' }>): string {
  const status = event.check && event.status === 'failed' ? 'would fail' : event.status;
  return `${event.host} ${event.task} gate ${event.gate} ${status}: ${event.detail}`;
}

/** The warning for a connection that offered ssh.legacy_algorithms; the live view prints it too. */
export function legacyAlgorithmsLine(event: Extract<RunEvent, { event: 'ssh-legacy-algorithms' }>): string {
  const via = event.via !== undefined ? ` (via ${event.via})` : '';
  const used =
    event.in_use.length > 0
      ? `the server chose ${event.in_use.join(', ')}: upgrade its sshd, then drop them from the playbook`
      : 'the server chose strong ones, so ssh.legacy_algorithms can be removed';
  return `${event.host} WARNING: ssh${via} offered weak algorithms ${event.offered.join(', ')} (ssh.legacy_algorithms); ${used}`;
}

/** The one line that says a host key was trusted on first use; the live view prints it too. */
export function hostKeyAcceptedLine(event: Extract<RunEvent, { event: 'host-key-accepted' }>): string {
  return `${event.host} new host key for ${event.name} accepted (--accept-new-host-keys): ${event.key_type} ${event.fingerprint}, added to ${event.known_hosts}`;
}

/**
 * `host1 swap WARNING plan drift: runningVersion is 1.6.18, the plan predicted 1.6.38`;
 * the live view prints the same line.
 */
export function planDriftLine(event: Extract<RunEvent, { event: 'plan-drift' }>): string {
  const text = (value: string | null) => value ?? '(none)';
  return `${event.host} ${event.task} WARNING plan drift: ${event.field} is ${text(event.found)}, the plan predicted ${text(event.planned)} (later tasks plan against what was found)`;
}

/**
 * `host1 backups pruned 2, 145.0 MiB freed (keep: count 3): A.mpbak (beyond the newest 3), …`;
 * the live view prints the same line.
 */
export function backupsPrunedLine(event: Extract<RunEvent, { event: 'backups-pruned' }>): string {
  const files = event.pruned.map((backup) => `${backup.file} (${backup.reason})`).join(', ');
  const what = event.check
    ? `would prune ${event.pruned.length}, freeing ${formatBytes(event.freed_bytes)}`
    : `pruned ${event.pruned.length}, ${formatBytes(event.freed_bytes)} freed`;
  const problems = event.problems?.length ? `; not pruned: ${event.problems.join('; ')}` : '';
  return `${event.host} backups ${what} (keep: ${event.keep}; ${event.kept} kept in ${event.folder})${files ? `: ${files}` : ''}${problems}`;
}

/** `batch 2 of 3: host2, host3`, as the question between batches names it. */
export function batchLine(position: BatchPosition): string {
  return `batch ${position.batch} of ${position.batches}: ${position.hosts.join(', ')}`;
}

/** The wait before a batch, with the seconds left; the live view counts it down. */
export function pauseLine(position: BatchPosition, secondsLeft: number): string {
  return `pause_between_batches: ${batchLine(position)} starts in ${formatSeconds(secondsLeft)} (Ctrl-C stops the run here)`;
}

/**
 * What the run does, in the words of the command that started it: a rollback's
 * header once said `APPLY lab upgrade to 1.6.38` while it went back to 1.6.18.
 */
export function runHeader(event: Extract<RunEvent, { event: 'start' }>): string {
  const verb =
    { upgrade: 'APPLY', rollback: 'ROLLBACK', backup: 'BACKUP', restore: 'RESTORE' }[event.job] ?? 'RUN';
  const what =
    event.job === 'rollback'
      ? `each host back to its previous build (from ${event.rollback_from ?? 'the playbook target'})`
      : event.job === 'upgrade'
        ? `${event.name} (target ${event.target_version})`
        : event.name;
  return `${event.check ? `CHECK ${verb}` : verb} ${what} (${event.playbook}) on ${event.hosts.join(', ')}`;
}
