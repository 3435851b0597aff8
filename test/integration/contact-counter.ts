import { createServer, type Server } from 'node:net';

// Stands in for every host of a bad-input test: a TCP listener on the loopback
// addresses the fixtures use, on one random port, that counts connections and closes
// them at once. A run that contacts a host shows up as a count above zero.

/** The loopback addresses the bad-playbook fixtures give their hosts (Linux routes all of 127/8 to lo). */
export const FIXTURE_ADDRESSES = ['127.0.0.1', '127.0.0.2', '127.0.0.3'] as const;

export interface ContactCounter {
  readonly port: number;
  /** Connections accepted so far, with the address each one reached. */
  readonly contacts: readonly string[];
  close(): Promise<void>;
}

export async function startContactCounter(): Promise<ContactCounter> {
  // Another process may hold the random port on .2 or .3; try again with a new one.
  for (let attempt = 1; ; attempt++) {
    const contacts: string[] = [];
    const servers: Server[] = [];
    try {
      let port = 0;
      for (const address of FIXTURE_ADDRESSES) {
        const server = createServer((socket) => {
          contacts.push(`${address}:${port}`);
          socket.destroy();
        });
        servers.push(server);
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(port, address, () => resolve());
        });
        port = (server.address() as { port: number }).port;
      }
      return {
        port,
        contacts,
        close: () =>
          Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(
            () => undefined,
          ),
      };
    } catch (error) {
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      if (attempt >= 5) throw error;
    }
  }
}

/**
 * A bad-playbook fixture rewritten so its hosts log in on the counter's port, without
 * moving any position its `# expect:` lines name: the fixtures already use 127.0.0.N
 * addresses, and the ssh port is set by appending `defaults:` at the end of the file,
 * or — where the fixture has its own `defaults:` — by one line inserted into it.
 * `line` maps a fixture line number to the copy's.
 */
export function pointAtCounter(text: string, port: number): { text: string; line(n: number): number } {
  const same = { text, line: (n: number) => n };
  if (!/^\s*-?\s*address:/m.test(text)) return same; // no host to point anywhere
  const lines = text.split('\n');
  const defaults = lines.findIndex((l) => /^defaults:\s*$/.test(l));
  if (defaults < 0) {
    const ended = text.endsWith('\n') ? text : `${text}\n`;
    return { text: `${ended}defaults: { ssh: { port: ${port} } }\n`, line: (n) => n };
  }
  const blockEnd = lines.findIndex((l, i) => i > defaults && /^\S/.test(l));
  const block = lines.slice(defaults + 1, blockEnd < 0 ? undefined : blockEnd);
  const ssh = block.findIndex((l) => /^ {2}ssh:\s*$/.test(l));
  let insertAfter: number; // 0-based index of the line the new one follows
  let inserted: string;
  if (ssh < 0) {
    insertAfter = defaults;
    inserted = `  ssh: { port: ${port} }`;
  } else {
    // A fixture whose mistake is the ssh port keeps it: nothing can connect to port 0 anyway.
    const sshEnd = block.findIndex((l, i) => i > ssh && !/^ {4}/.test(l));
    if (block.slice(ssh + 1, sshEnd < 0 ? undefined : sshEnd).some((l) => /^ {4}port:/.test(l))) return same;
    insertAfter = defaults + 1 + ssh;
    inserted = `    port: ${port}`;
  }
  lines.splice(insertAfter + 1, 0, inserted);
  const firstMoved = insertAfter + 2; // 1-based number of the first line pushed down
  return { text: lines.join('\n'), line: (n) => (n >= firstMoved ? n + 1 : n) };
}
