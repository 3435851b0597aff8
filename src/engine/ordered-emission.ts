import type { EventSink, RunEvent } from '../report/events.js';

// --check plans a rolling phase's hosts all at once (nothing is taken out of
// service), but its output must read as apply will run: batch by batch, host
// after host, in apply's order. Events of a host ahead of the one being shown
// wait in its buffer; each host's turn starts with its batch's header when it
// is the batch's first. Live progress of a waiting host is dropped: it is over
// by the time the host is shown.

export interface OrderedBatch {
  readonly hosts: readonly string[];
  /** The `batch` event that heads the batch. */
  readonly header: RunEvent;
}

export class OrderedEmission {
  private order: readonly string[] = [];
  private pointer = 0;
  private readonly buffers = new Map<string, RunEvent[]>();
  private readonly done = new Set<string>();
  private readonly headers = new Map<string, RunEvent>();

  constructor(private readonly sink: EventSink) {}

  readonly emit: EventSink = (event) => {
    const host = 'host' in event && typeof event.host === 'string' ? event.host : undefined;
    if (host === undefined || !this.order.includes(host) || host === this.order[this.pointer]) {
      this.sink(event);
      return;
    }
    if (event.event === 'progress') return;
    const buffer = this.buffers.get(host) ?? [];
    buffer.push(event);
    this.buffers.set(host, buffer);
  };

  /** From now on the hosts of `batches` are shown in this order, each batch under its header. */
  begin(batches: readonly OrderedBatch[]): void {
    this.order = batches.flatMap((batch) => batch.hosts);
    this.pointer = 0;
    this.done.clear();
    this.headers.clear();
    for (const batch of batches) {
      const first = batch.hosts[0];
      if (first !== undefined) this.headers.set(first, batch.header);
    }
    this.showNext();
  }

  /** `host` has nothing more to say in this phase. */
  finished(host: string): void {
    this.done.add(host);
    while (this.order[this.pointer] !== undefined && this.done.has(this.order[this.pointer] as string)) {
      this.pointer += 1;
      this.showNext();
    }
  }

  /** Shows whatever is still held and stops ordering. */
  end(): void {
    while (this.pointer < this.order.length) {
      this.pointer += 1;
      this.showNext();
    }
    this.order = [];
    this.pointer = 0;
  }

  private showNext(): void {
    const host = this.order[this.pointer];
    if (host === undefined) return;
    const header = this.headers.get(host);
    if (header) this.sink(header);
    for (const event of this.buffers.get(host) ?? []) this.sink(event);
    this.buffers.delete(host);
  }
}
