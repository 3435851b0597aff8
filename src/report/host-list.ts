// `--list-hosts`: what a command would work on, in the order it would, without
// contacting any host. The JSON object and the text say the same.

export interface HostList {
  readonly playbook: string;
  /** In playbook order, as --limit selects them. */
  readonly hosts: readonly string[];
  /** The rolling batches strategy.serial makes of them; a command without batches has one. */
  readonly batches: readonly (readonly string[])[];
  /** Whether the command works in rolling batches (apply, rollback) or on every host at once. */
  readonly rolling: boolean;
}

export function hostListEvent(list: HostList) {
  return { event: 'list-hosts' as const, playbook: list.playbook, hosts: list.hosts, batches: list.batches };
}

export function formatHostList(list: HostList): string[] {
  const count = `hosts (${list.hosts.length})`;
  if (!list.rolling) return [`${count}:`, ...list.hosts.map((host) => `  ${host}`)];
  const total = list.batches.length;
  return [
    `${count} in ${total} batch${total === 1 ? '' : 'es'}:`,
    ...list.batches.map((batch, index) => `  batch ${index + 1} of ${total}: ${batch.join(', ')}`),
  ];
}
