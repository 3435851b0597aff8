import { randomUUID } from 'node:crypto';

// What every JSON event carries besides its own fields, so a program can follow a
// run from its output alone: which run it belongs to, when it happened, and which
// version of the event contract (schemas/events.schema.json) it follows. The
// version goes up only when a field changes meaning or goes away; new events and
// new fields keep it, and a reader ignores what it does not know.

export const EVENT_SCHEMA_VERSION = 1;

export interface EventEnvelope {
  /** The version of the event contract this event follows. */
  readonly schema: typeof EVENT_SCHEMA_VERSION;
  /** When memplay emitted the event: ISO 8601 UTC with milliseconds. */
  readonly ts: string;
  /** The same for every event of one memplay invocation; the journal's `run` of that run. */
  readonly run_id: string;
}

export type Stamped<E> = E & EventEnvelope;

export function newRunId(): string {
  return randomUUID();
}

/** The event with its envelope: `event` stays the first key, the envelope follows it. */
export function stampEvent<E extends { readonly event: string }>(
  event: E,
  runId: string,
  at: Date = new Date(),
): Stamped<E> {
  const { event: name, ...fields } = event;
  return {
    event: name,
    schema: EVENT_SCHEMA_VERSION,
    ts: at.toISOString(),
    run_id: runId,
    ...fields,
  } as Stamped<E>;
}
