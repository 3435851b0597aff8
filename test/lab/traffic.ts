/**
 * Live client traffic against one memcached, through a real client library (memjs,
 * binary protocol), judged afterwards: was any client handed a value older than one
 * it had seen acknowledged? Used by the e2e tests and the benchmark while
 * `memplay apply` stops, swaps and restarts the memcached under it.
 *
 * Three layers, top to bottom:
 *  - values: every value the harness writes names its key and a per-key sequence
 *    number, so any value read back can be placed in that key's history;
 *  - judgement (KeyLedger, TrafficTally, Pacer): pure, no sockets, unit-tested;
 *  - the loops (preloadTraffic, startTraffic): memjs clients, timers, the final pass.
 */
import { performance } from 'node:perf_hooks';
import memjs from 'memjs';

// ───────────────────────────── values ─────────────────────────────

/** Who wrote a value: `pre` (preload), `w<n>` (worker n), `hot` (the hot-key loop). */
export type TrafficWriter = string;

/**
 * `v|<seq>|<writer>|<key>|....$`, dots padding it to `bytes`. The key is inside so
 * a value served under the wrong key is caught too; seq orders a key's values; the
 * closing `$` makes a value cut short anywhere detectable.
 */
export function trafficValue(key: string, seq: number, writer: TrafficWriter, bytes: number): string {
  const header = `v|${seq}|${writer}|${key}|`;
  return `${header}${'.'.repeat(Math.max(0, bytes - header.length - 1))}$`;
}

/** The seq and writer of a value this harness wrote for `key`, or null for anything else. */
export function parseTrafficValue(key: string, raw: string): { seq: number; writer: TrafficWriter } | null {
  const match = /^v\|(\d+)\|([a-z0-9]+)\|/.exec(raw);
  if (!match) return null;
  const seq = Number(match[1]);
  const writer = match[2] as string;
  // Rebuilding the whole value rejects truncation, a foreign key and altered padding alike.
  return raw === trafficValue(key, seq, writer, raw.length) ? { seq, writer } : null;
}

// ───────────────────────────── judgement ─────────────────────────────

export type LedgerOpKind = 'set' | 'delete';

interface LedgerOp {
  readonly seq: number;
  readonly kind: LedgerOpKind;
  status: 'pending' | 'acked' | 'failed';
  readonly sentAt: number;
  settledAt: number | null;
}

/** The latest acknowledged op of a key when a read was sent: nothing older may be read. */
interface Floor {
  readonly seq: number;
  readonly kind: LedgerOpKind;
  readonly ackedAt: number;
}

export interface ReadTicket {
  readonly id: number;
  readonly sentAt: number;
  readonly floor: Floor;
}

export type ReadVerdict =
  /** A value that was (or may have been) the key's latest at some moment of the read. */
  | { readonly kind: 'fresh' }
  /** A miss with nothing to say: the key was deleted, or a delete may have landed. */
  | { readonly kind: 'miss' }
  /** A miss although an acked set is the latest op and no delete was sent since: the cache forgot. */
  | { readonly kind: 'miss-after-acked-write'; readonly detail: string }
  /** `changedAt`: when the op the read should have seen (a set, or a delete) was acked, run-relative ms. */
  | { readonly kind: 'stale'; readonly detail: string; readonly changedAt: number }
  | { readonly kind: 'resurrected'; readonly detail: string; readonly changedAt: number }
  /** Not a value this harness wrote for this key (another key's, garbled, or never sent). */
  | { readonly kind: 'foreign'; readonly detail: string };

const ms = (at: number) => `+${Math.round(at)}ms`;

/**
 * One key's history as the harness saw it, and the judge of every read of it.
 *
 * Writes to a key come from one loop at a time, so sequence numbers are the
 * key's real order. A read may return any value from the latest op acked before
 * it was sent (its floor) onwards: later ops are pending, failed (their value
 * stays possible until the next acked op) or concurrent with the read. Older
 * values are stale, or resurrected if the floor is a delete. Times are whatever
 * clock the caller passes (ms); they only appear in verdict details.
 */
export class KeyLedger {
  /** Ops from `ops[0].seq` on; older ones are dropped once no read in flight can need them. */
  private ops: LedgerOp[];
  private floor: Floor;
  private readonly readFloors = new Map<number, number>();
  private nextReadId = 0;

  constructor(
    readonly key: string,
    initial: 'preloaded' | 'absent',
    at = 0,
  ) {
    // seq 0 is the key's state before traffic: the preload's value, or known absent.
    const kind: LedgerOpKind = initial === 'preloaded' ? 'set' : 'delete';
    this.ops = [{ seq: 0, kind, status: 'acked', sentAt: at, settledAt: at }];
    this.floor = { seq: 0, kind, ackedAt: at };
  }

  /** The seq of the next op; a set must write `trafficValue(key, seq, …)`. */
  get nextSeq(): number {
    return (this.ops.at(-1)?.seq ?? this.floor.seq) + 1;
  }

  /** Records a set about to be sent and returns the seq its value must carry. */
  setSent(at: number): number {
    return this.send('set', at);
  }

  deleteSent(at: number): number {
    return this.send('delete', at);
  }

  acked(seq: number, at: number): void {
    const op = this.settle(seq, 'acked', at);
    if (seq > this.floor.seq) this.floor = { seq, kind: op.kind, ackedAt: at };
    this.prune();
  }

  /** An error or a timeout: the op may or may not have happened. */
  failed(seq: number, at: number): void {
    this.settle(seq, 'failed', at);
  }

  readSent(at: number): ReadTicket {
    const ticket = { id: this.nextReadId++, sentAt: at, floor: this.floor };
    this.readFloors.set(ticket.id, ticket.floor.seq);
    return ticket;
  }

  /** Judges what a read returned: `raw` is the value, null for a miss. */
  readResult(ticket: ReadTicket, raw: string | null, at: number): ReadVerdict {
    const verdict = this.judge(ticket, raw, at);
    this.readFloors.delete(ticket.id);
    this.prune();
    return verdict;
  }

  /** A read that errored or timed out: it says nothing about the key. */
  readFailed(ticket: ReadTicket): void {
    this.readFloors.delete(ticket.id);
    this.prune();
  }

  private send(kind: LedgerOpKind, at: number): number {
    const seq = this.nextSeq;
    this.ops.push({ seq, kind, status: 'pending', sentAt: at, settledAt: null });
    return seq;
  }

  private op(seq: number): LedgerOp | undefined {
    const first = this.ops[0];
    return first === undefined ? undefined : this.ops[seq - first.seq];
  }

  private settle(seq: number, status: 'acked' | 'failed', at: number): LedgerOp {
    const op = this.op(seq);
    if (op?.status !== 'pending') throw new Error(`${this.key}: seq ${seq} is not a pending op`);
    op.status = status;
    op.settledAt = at;
    return op;
  }

  private prune(): void {
    let keepFrom = this.floor.seq;
    for (const seq of this.readFloors.values()) keepFrom = Math.min(keepFrom, seq);
    const first = this.ops[0];
    if (first && keepFrom > first.seq) this.ops = this.ops.slice(keepFrom - first.seq);
  }

  private describeOp(seq: number): string {
    const op = this.op(seq);
    if (!op) return `seq ${seq}`;
    const settled = op.settledAt === null ? 'pending' : `${op.status} ${ms(op.settledAt)}`;
    return `seq ${seq} (${op.kind} sent ${ms(op.sentAt)}, ${settled})`;
  }

  private judge(ticket: ReadTicket, raw: string | null, at: number): ReadVerdict {
    const { floor } = ticket;
    const read = `read sent ${ms(ticket.sentAt)}, answered ${ms(at)}`;
    const expected = `expected seq ≥ ${floor.seq} (${floor.kind} acked ${ms(floor.ackedAt)})`;
    if (raw === null) {
      const deleteSince = this.ops.some((op) => op.seq > floor.seq && op.kind === 'delete');
      if (floor.kind === 'set' && !deleteSince) {
        return { kind: 'miss-after-acked-write', detail: `${this.key}: miss; ${expected}; ${read}` };
      }
      return { kind: 'miss' };
    }
    const parsed = parseTrafficValue(this.key, raw);
    if (!parsed) {
      return { kind: 'foreign', detail: `${this.key}: got ${JSON.stringify(raw.slice(0, 60))}; ${read}` };
    }
    const got = `got ${this.describeOp(parsed.seq)} by ${parsed.writer}`;
    if (parsed.seq >= this.nextSeq || this.op(parsed.seq)?.kind === 'delete') {
      return { kind: 'foreign', detail: `${this.key}: ${got}, never written; ${read}` };
    }
    if (parsed.seq >= floor.seq) return { kind: 'fresh' };
    const detail = `${this.key}: ${got}; ${expected}; ${read}`;
    const changedAt = floor.ackedAt;
    return floor.kind === 'delete'
      ? { kind: 'resurrected', detail, changedAt }
      : { kind: 'stale', detail, changedAt };
  }
}

/** During traffic, or the one read per key after it stopped. */
export type TrafficPhase = 'traffic' | 'final';

export interface TrafficVerdicts {
  /** Reads (traffic and final pass) of a value older than the key's last acked write. */
  readonly staleReads: number;
  /** Reads (traffic and final pass) of any older value after an acked delete. */
  readonly resurrectedDeletes: number;
  /** Reads of a value this harness never wrote for that key. */
  readonly foreignValues: number;
  /** Misses during traffic after an acked set with no delete since (allowed: a cache may forget). */
  readonly missesAfterAckedWrite: number;
  /** Keys whose latest acked op is a set (the preload's included) that miss in the final pass. */
  readonly lostWrites: number;
  /** The final pass's share of staleReads and resurrectedDeletes. */
  readonly finalStale: number;
  readonly finalResurrected: number;
  /**
   * Distinct keys read stale or resurrected at least once (a key read back ten
   * times is one wrong value): what memplay's `possibly_stale` counts.
   */
  readonly staleKeys: number;
  readonly resurrectedKeys: number;
  /** The first violations, each with key, expected, got and times. */
  readonly examples: readonly string[];
}

const maxExamples = 10;

/** Counts verdicts into the report's figures; keeps the first few violations as examples. */
export class TrafficTally {
  private counts = {
    staleReads: 0,
    resurrectedDeletes: 0,
    foreignValues: 0,
    missesAfterAckedWrite: 0,
    lostWrites: 0,
    finalStale: 0,
    finalResurrected: 0,
  };
  private readonly examples: string[] = [];
  private readonly staleKeySet = new Set<string>();
  private readonly resurrectedKeySet = new Set<string>();
  /** Each key read stale or resurrected: the earliest acked change such a read missed. */
  private readonly wrongKeyChangedAt = new Map<string, number>();

  /**
   * Keys read stale or resurrected whose missed change was acked before `at` (run-relative ms):
   * the ones a fence that looked at `at` could have named.
   */
  wrongKeysChangedBefore(at: number): number {
    let count = 0;
    for (const changedAt of this.wrongKeyChangedAt.values()) if (changedAt < at) count++;
    return count;
  }

  /** `key`: which key was read, for the distinct counts (optional for callers that judge one key). */
  record(verdict: ReadVerdict, phase: TrafficPhase, key = ''): void {
    const final = phase === 'final';
    switch (verdict.kind) {
      case 'fresh':
      case 'miss':
        return;
      case 'miss-after-acked-write':
        // During traffic a miss is the cache's right; after it, it is the data memplay should have carried.
        if (final) this.counts.lostWrites++;
        else this.counts.missesAfterAckedWrite++;
        return;
      case 'stale':
        this.noteWrongKey(key, verdict.changedAt);
        this.counts.staleReads++;
        this.staleKeySet.add(key);
        if (final) this.counts.finalStale++;
        break;
      case 'resurrected':
        this.noteWrongKey(key, verdict.changedAt);
        this.counts.resurrectedDeletes++;
        this.resurrectedKeySet.add(key);
        if (final) this.counts.finalResurrected++;
        break;
      case 'foreign':
        this.counts.foreignValues++;
        break;
    }
    if (this.examples.length < maxExamples) this.examples.push(`${phase} ${verdict.kind}: ${verdict.detail}`);
  }

  private noteWrongKey(key: string, changedAt: number): void {
    const earliest = this.wrongKeyChangedAt.get(key);
    if (earliest === undefined || changedAt < earliest) this.wrongKeyChangedAt.set(key, changedAt);
  }

  verdicts(): TrafficVerdicts {
    return {
      ...this.counts,
      staleKeys: this.staleKeySet.size,
      resurrectedKeys: this.resurrectedKeySet.size,
      examples: [...this.examples],
    };
  }
}

/**
 * Spreads ops evenly: slot n is due at start + n × interval. A loop that fell
 * behind (a hung op) may catch up by at most `maxLagMs` worth of slots, so the
 * rate is reached without a burst far above it after an outage.
 */
export class Pacer {
  private due: number;

  constructor(
    private readonly intervalMs: number,
    start: number,
    private readonly maxLagMs: number,
  ) {
    this.due = start;
  }

  /** Claims the next slot and returns how long to wait for it (0: go now). */
  next(now: number): number {
    const slot = Math.max(this.due, now - this.maxLagMs);
    this.due = slot + this.intervalMs;
    return Math.max(0, slot - now);
  }
}

/** Longest time from a failed op to the next successful one, the open stretch included. */
export class ErrorStretch {
  private failingSince: number | null = null;
  private longestMs = 0;

  failed(at: number): void {
    this.failingSince ??= at;
  }

  succeeded(at: number): void {
    if (this.failingSince === null) return;
    this.longestMs = Math.max(this.longestMs, at - this.failingSince);
    this.failingSince = null;
  }

  longest(now: number): number {
    return this.failingSince === null ? this.longestMs : Math.max(this.longestMs, now - this.failingSince);
  }
}

/** mulberry32: small, fast, and the same stream for the same seed on every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ───────────────────────────── the client ─────────────────────────────

type MemjsClient = memjs.Client<string, Buffer | null>;

class OpTimeout extends Error {}

/**
 * One memjs client that survives the server going away. memjs 1.3 dials again by
 * itself on the next op after a socket closes, but (checked against a killed and
 * restarted memcached) an op in flight when the server closes the connection never
 * settles, and a half-read reply would stay in the server object's buffer and
 * garble the next connection's replies. So every op gets its own deadline, and
 * after any failure the client is thrown away and a new one made.
 */
class TrafficClient {
  private client: MemjsClient;

  constructor(
    private readonly port: number,
    private readonly timeoutMs: number,
  ) {
    this.client = this.create();
  }

  get(key: string): Promise<string | null> {
    return this.run((client) => client.get(key).then(({ value }) => value?.toString('utf8') ?? null));
  }

  set(key: string, value: string): Promise<void> {
    return this.run((client) => client.set(key, value, { expires: 0 }).then(() => undefined));
  }

  /** Resolves whether the key was there; either way it is gone. */
  delete(key: string): Promise<boolean> {
    return this.run((client) => client.delete(key));
  }

  close(): void {
    this.client.close();
  }

  private create(): MemjsClient {
    const seconds = this.timeoutMs / 1000;
    return memjs.Client.create<string, Buffer | null>(`127.0.0.1:${this.port}`, {
      // The harness judges each op; a retry would hide the error and reorder ops.
      retries: 0,
      // failover would mark the only server dead for failoverTime (60 s).
      failover: false,
      timeout: seconds,
      conntimeout: seconds,
      keepAlive: false,
      logger: { log: () => {} },
    });
  }

  private async run<T>(op: (client: MemjsClient) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new OpTimeout(`no reply in ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      // race() subscribes to both, so memjs rejecting after the deadline is not unhandled.
      return await Promise.race([op(this.client), deadline]);
    } catch (error) {
      this.client.close();
      this.client = this.create();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}

// ───────────────────────────── preload ─────────────────────────────

export interface TrafficKeyspace {
  readonly prefix: string;
  /** `${prefix}${i}` for i in 0..count-1, each holding `trafficValue(key, 0, 'pre', valueBytes)`. */
  readonly keys: readonly string[];
  readonly valueBytes: number;
}

export interface PreloadOptions {
  readonly keys: number;
  /** Length of every value the harness writes (the header is never cut). Default 200. */
  readonly valueBytes?: number;
  /** Default `traffic:`. */
  readonly prefix?: string;
}

const preloadWriter = 'pre';
const laneCount = 8;
const setupTimeoutMs = 2_000;
const setupAttempts = 3;

/** The value preloadTraffic wrote for `key`. */
export function preloadedValue(keyspace: TrafficKeyspace, key: string): string {
  return trafficValue(key, 0, preloadWriter, keyspace.valueBytes);
}

/** Runs `each` over `items` in `laneCount` lanes, each with what `open` makes (its own client). */
async function inLanes<T, L extends { close(): void }>(
  items: readonly T[],
  open: () => L,
  each: (lane: L, item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    const opened = open();
    try {
      while (next < items.length) await each(opened, items[next++] as T);
    } finally {
      opened.close();
    }
  };
  await Promise.all(Array.from({ length: laneCount }, lane));
}

async function attempt<T>(work: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await work();
    } catch (error) {
      if (tries >= setupAttempts) throw error;
      await sleep(100);
    }
  }
}

/** Writes the keyspace's keys with their seq-0 values; throws if one cannot be written. */
export async function preloadTraffic(port: number, options: PreloadOptions): Promise<TrafficKeyspace> {
  const prefix = options.prefix ?? 'traffic:';
  const valueBytes = options.valueBytes ?? 200;
  const keys = Array.from({ length: options.keys }, (_, i) => `${prefix}${i}`);
  const keyspace = { prefix, keys, valueBytes };
  await inLanes(
    keys,
    () => new TrafficClient(port, setupTimeoutMs),
    async (client, key) => {
      try {
        await attempt(() => client.set(key, preloadedValue(keyspace, key)));
      } catch (error) {
        throw new Error(`traffic preload: set ${key} on 127.0.0.1:${port} failed: ${describe(error)}`);
      }
    },
  );
  return keyspace;
}

// ───────────────────────────── traffic ─────────────────────────────

export interface TrafficMix {
  readonly get: number;
  readonly set: number;
  readonly delete: number;
}

export interface TrafficOptions {
  /** Total for the worker loops (the hot-key loop has its own rate). Default 400. */
  readonly opsPerSecond?: number;
  /** Relative shares; default get 0.6, set 0.25, delete 0.15. */
  readonly mix?: TrafficMix;
  /** Concurrent client loops, each with its own client and its own keys. Default 8. */
  readonly workers?: number;
  /**
   * One key written by a dedicated loop at `writesPerSecond`, read by the workers
   * (`readShare` of their gets, default 0.1). Workers never write it, even if it is
   * one of the keyspace's keys.
   */
  readonly hotKey?: { readonly key: string; readonly writesPerSecond: number; readonly readShare?: number };
  /** Per op, connect included. Default 500. */
  readonly timeoutMs?: number;
  /** Seeds the choice of ops and keys. Default 1. */
  readonly seed?: number;
  /** The loops stop by themselves after this long even if stop() is never called. Default 10 min. */
  readonly maxDurationMs?: number;
}

export interface TrafficClientReport {
  /** `w<n>` or `hot`. */
  readonly name: string;
  readonly ops: number;
  readonly errors: number;
  readonly longestErrorStretchMs: number;
}

export interface TrafficReport extends TrafficVerdicts {
  /** Ops of the worker loops, and their rate over the time the loops ran. */
  readonly ops: number;
  readonly opsPerSecond: number;
  readonly durationMs: number;
  readonly gets: number;
  readonly hits: number;
  readonly misses: number;
  readonly sets: number;
  readonly setsAcked: number;
  readonly deletes: number;
  readonly deletesAcked: number;
  /** Failed or timed-out ops of the worker loops. */
  readonly errors: number;
  /** The hot-key loop's writes, null without a hot key. */
  readonly hotKey: {
    readonly writes: number;
    readonly writesAcked: number;
    readonly errors: number;
    readonly writesPerSecond: number;
  } | null;
  /** Longest stretch, over every client, from a failed op to that client's next successful one. */
  readonly longestErrorStretchMs: number;
  readonly clients: readonly TrafficClientReport[];
  /** Keys read in the final pass, and those it could not read (errors after retries). */
  readonly finalReads: number;
  readonly finalUnread: number;
  /**
   * Distinct keys read stale or resurrected whose missed change was acked before the wall-clock
   * moment `atMs` (Date.now() scale): what a fence that last looked at that moment could name.
   */
  wrongKeysChangedBefore(atMs: number): number;
}

export interface TrafficHandle {
  /** Stops the loops, waits for ops in flight, reads every key once through a fresh client, judges. */
  stop(): Promise<TrafficReport>;
}

const defaultMix: TrafficMix = { get: 0.6, set: 0.25, delete: 0.15 };
// At most this much of a loop's schedule is made up after a hung op.
const maxLagMs = 100;

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface WriteCounts {
  sets: number;
  setsAcked: number;
  errors: number;
}

interface OpCounts extends WriteCounts {
  gets: number;
  hits: number;
  misses: number;
  deletes: number;
  deletesAcked: number;
}

/** What every loop shares: the clock, the ledgers, the tally, the stop signal. */
class TrafficRun {
  readonly started = performance.now();
  /** The same moment on the wall clock, to compare with memplay's event times. */
  readonly startedWallMs = Date.now();
  readonly tally = new TrafficTally();
  readonly ledgers = new Map<string, KeyLedger>();
  readonly counts: OpCounts = {
    gets: 0,
    hits: 0,
    misses: 0,
    sets: 0,
    setsAcked: 0,
    deletes: 0,
    deletesAcked: 0,
    errors: 0,
  };
  stopping = false;
  loopsEndedAt: number | null = null;
  // Racing each pause against one pending "stopped" promise would leave a reaction per op on it.
  private readonly pauses = new Set<() => void>();

  constructor(
    readonly port: number,
    readonly timeoutMs: number,
    readonly valueBytes: number,
    readonly deadline: number,
  ) {}

  now(): number {
    return performance.now() - this.started;
  }

  get running(): boolean {
    return !this.stopping && this.now() < this.deadline;
  }

  halt(): void {
    this.stopping = true;
    for (const wake of this.pauses) wake();
  }

  /** Waits `ms`, or less if the run is halted meanwhile. */
  pause(ms: number): Promise<void> {
    if (ms <= 0 || this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.pauses.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.pauses.add(wake);
    });
  }

  ledger(key: string): KeyLedger {
    const ledger = this.ledgers.get(key);
    if (!ledger) throw new Error(`traffic: ${key} has no ledger`);
    return ledger;
  }
}

/** One client loop's own state. */
class Lane {
  ops = 0;
  errors = 0;
  readonly stretch = new ErrorStretch();
  readonly client: TrafficClient;

  constructor(
    readonly name: string,
    readonly run: TrafficRun,
    readonly pacer: Pacer,
    readonly maxOps: number,
  ) {
    this.client = new TrafficClient(run.port, run.timeoutMs);
  }

  /** Waits for the next slot; false when the loop must end. */
  async paced(): Promise<boolean> {
    if (!this.run.running || this.ops >= this.maxOps) return false;
    await this.run.pause(this.pacer.next(this.run.now()));
    return this.run.running;
  }

  close(): void {
    this.client.close();
  }

  succeeded(): void {
    this.ops++;
    this.stretch.succeeded(this.run.now());
  }

  /** `sentAt`: a hung op's client was cut off from when it sent it, not from its deadline. */
  failed(sentAt: number): void {
    this.ops++;
    this.errors++;
    this.stretch.failed(sentAt);
  }

  report(): TrafficClientReport {
    const end = this.run.loopsEndedAt ?? this.run.now();
    return {
      name: this.name,
      ops: this.ops,
      errors: this.errors,
      longestErrorStretchMs: this.stretch.longest(end),
    };
  }
}

async function readKey(
  lane: Lane,
  key: string,
  counts: OpCounts | null,
  phase: TrafficPhase,
): Promise<boolean> {
  const { run } = lane;
  const ledger = run.ledger(key);
  const ticket = ledger.readSent(run.now());
  if (counts) counts.gets++;
  let raw: string | null;
  try {
    raw = await lane.client.get(key);
  } catch {
    lane.failed(ticket.sentAt);
    if (counts) counts.errors++;
    ledger.readFailed(ticket);
    return false;
  }
  lane.succeeded();
  if (counts) raw === null ? counts.misses++ : counts.hits++;
  run.tally.record(ledger.readResult(ticket, raw, run.now()), phase, key);
  return true;
}

/** Runs a write and tells the ledger how it ended; a failure stays in the counts, never thrown. */
async function write(
  lane: Lane,
  ledger: KeyLedger,
  seq: number,
  sentAt: number,
  send: () => Promise<unknown>,
): Promise<boolean> {
  const { run } = lane;
  try {
    await send();
  } catch {
    ledger.failed(seq, run.now());
    lane.failed(sentAt);
    return false;
  }
  ledger.acked(seq, run.now());
  lane.succeeded();
  return true;
}

async function setKey(lane: Lane, key: string, counts: WriteCounts): Promise<void> {
  const { run } = lane;
  const ledger = run.ledger(key);
  const sentAt = run.now();
  const seq = ledger.setSent(sentAt);
  counts.sets++;
  const value = trafficValue(key, seq, lane.name, run.valueBytes);
  if (await write(lane, ledger, seq, sentAt, () => lane.client.set(key, value))) counts.setsAcked++;
  else counts.errors++;
}

async function deleteKey(lane: Lane, key: string, counts: OpCounts): Promise<void> {
  const { run } = lane;
  const ledger = run.ledger(key);
  const sentAt = run.now();
  const seq = ledger.deleteSent(sentAt);
  counts.deletes++;
  if (await write(lane, ledger, seq, sentAt, () => lane.client.delete(key))) counts.deletesAcked++;
  else counts.errors++;
}

interface WorkerPlan {
  /** Keys this worker alone writes, deletes and reads. */
  readonly owned: readonly string[];
  readonly mix: TrafficMix;
  readonly hotKey: string | null;
  readonly hotReadShare: number;
  readonly random: () => number;
}

async function workerLoop(lane: Lane, plan: WorkerPlan): Promise<void> {
  const { owned, mix, random } = plan;
  const total = mix.get + mix.set + mix.delete;
  const pick = () => owned[Math.floor(random() * owned.length)] as string;
  try {
    while (await lane.paced()) {
      const roll = random() * total;
      const readsHot = plan.hotKey !== null && (owned.length === 0 || random() < plan.hotReadShare);
      if (roll < mix.get || owned.length === 0) {
        await readKey(lane, readsHot ? (plan.hotKey as string) : pick(), lane.run.counts, 'traffic');
      } else if (roll < mix.get + mix.set) {
        await setKey(lane, pick(), lane.run.counts);
      } else {
        await deleteKey(lane, pick(), lane.run.counts);
      }
    }
  } finally {
    lane.close();
  }
}

async function hotKeyLoop(lane: Lane, key: string, counts: WriteCounts) {
  try {
    while (await lane.paced()) await setKey(lane, key, counts);
  } finally {
    lane.close();
  }
}

// How long the final pass keeps trying while nothing answers; then the rest count as unread.
const finalPassPatienceMs = 3_000;

/**
 * Reads every key once through fresh clients. An error is retried, so a server still
 * starting is not a loss; a server that stays down costs the patience once, not per key.
 */
async function finalPass(
  run: TrafficRun,
  keys: readonly string[],
): Promise<{ reads: number; unread: number }> {
  let unread = 0;
  let lastAnswerAt = run.now();
  const patient = () => run.now() - lastAnswerAt < finalPassPatienceMs;
  // Lanes give the final reads the same judging path as traffic reads; their op counts are not reported.
  const openLane = () => new Lane('final', run, new Pacer(0, 0, 0), Number.POSITIVE_INFINITY);
  await inLanes(keys, openLane, async (lane, key) => {
    for (let tries = 1; tries <= setupAttempts && patient(); tries++) {
      if (await readKey(lane, key, null, 'final')) {
        lastAnswerAt = run.now();
        return;
      }
      await sleep(100);
    }
    unread++;
  });
  return { reads: keys.length - unread, unread };
}

const usedKeyspaces = new WeakSet<TrafficKeyspace>();

function validate(options: TrafficOptions, keyspace: TrafficKeyspace): void {
  const { opsPerSecond = 400, workers = 8, mix = defaultMix, timeoutMs = 500 } = options;
  const problems = [
    opsPerSecond > 0 ? null : `opsPerSecond must be > 0 (got ${opsPerSecond})`,
    Number.isInteger(workers) && workers >= 1 ? null : `workers must be an integer ≥ 1 (got ${workers})`,
    mix.get >= 0 && mix.set >= 0 && mix.delete >= 0 && mix.get + mix.set + mix.delete > 0
      ? null
      : `mix shares must be ≥ 0 with a positive sum (got ${JSON.stringify(mix)})`,
    timeoutMs > 0 ? null : `timeoutMs must be > 0 (got ${timeoutMs})`,
    options.hotKey && !(options.hotKey.writesPerSecond > 0) ? 'hotKey.writesPerSecond must be > 0' : null,
    keyspace.keys.length > 0 || options.hotKey ? null : 'the keyspace is empty and there is no hot key',
    // Its ledgers would start from the preload again while the cache holds the last run's values.
    usedKeyspaces.has(keyspace) ? 'this keyspace already had a traffic run: preload again' : null,
  ].filter((problem) => problem !== null);
  if (problems.length > 0) throw new Error(`startTraffic: ${problems.join('; ')}`);
}

/**
 * Starts the worker loops (and the hot-key loop) against 127.0.0.1:port. Each key
 * belongs to one worker (key index % workers), so a key never has two ops in
 * flight; the hot key is written only by its loop and read by the workers.
 */
export function startTraffic(
  port: number,
  keyspace: TrafficKeyspace,
  options: TrafficOptions = {},
): TrafficHandle {
  validate(options, keyspace);
  usedKeyspaces.add(keyspace);
  const opsPerSecond = options.opsPerSecond ?? 400;
  const workers = options.workers ?? 8;
  const seed = options.seed ?? 1;
  const hot = options.hotKey ?? null;
  const run = new TrafficRun(
    port,
    options.timeoutMs ?? 500,
    keyspace.valueBytes,
    options.maxDurationMs ?? 10 * 60_000,
  );
  for (const key of keyspace.keys) run.ledgers.set(key, new KeyLedger(key, 'preloaded'));
  if (hot && !run.ledgers.has(hot.key)) run.ledgers.set(hot.key, new KeyLedger(hot.key, 'absent'));

  const owned: string[][] = Array.from({ length: workers }, () => []);
  keyspace.keys.forEach((key, index) => {
    if (key !== hot?.key) owned[index % workers]?.push(key);
  });
  const laneFor = (name: string, perSecond: number) =>
    new Lane(
      name,
      run,
      new Pacer(1000 / perSecond, 0, Math.max(maxLagMs, 2000 / perSecond)),
      Math.ceil((perSecond * run.deadline) / 1000) + 1,
    );
  const workerLanes = owned.map((keys, w) => ({ lane: laneFor(`w${w}`, opsPerSecond / workers), keys, w }));
  const hotCounts: WriteCounts = { sets: 0, setsAcked: 0, errors: 0 };
  const hotLane = hot ? laneFor('hot', hot.writesPerSecond) : null;

  const loops = workerLanes
    .filter(({ keys }) => keys.length > 0 || hot)
    .map(({ lane, keys, w }) =>
      workerLoop(lane, {
        owned: keys,
        mix: options.mix ?? defaultMix,
        hotKey: hot?.key ?? null,
        hotReadShare: hot?.readShare ?? 0.1,
        random: seededRandom(seed * 7919 + w),
      }),
    );
  if (hot && hotLane) loops.push(hotKeyLoop(hotLane, hot.key, hotCounts));
  const selfStop = setTimeout(() => run.halt(), run.deadline);
  selfStop.unref();
  const loopsDone = Promise.allSettled(loops).then((results) => {
    run.loopsEndedAt = run.now();
    clearTimeout(selfStop);
    return results;
  });

  const finish = async (): Promise<TrafficReport> => {
    run.halt();
    for (const result of await loopsDone) {
      // A loop only throws on a harness bug (e.g. a ledger inconsistency): that must not pass quietly.
      if (result.status === 'rejected') throw result.reason;
    }
    const durationMs = run.loopsEndedAt ?? run.now();
    const final = await finalPass(run, [...run.ledgers.keys()]);
    const lanes = [...workerLanes.map(({ lane }) => lane), ...(hotLane ? [hotLane] : [])];
    const clients = lanes.map((lane) => lane.report());
    const ops = workerLanes.reduce((sum, { lane }) => sum + lane.ops, 0);
    const perSecond = (count: number) => Math.round((count * 1000) / Math.max(durationMs, 1));
    return {
      ...run.counts,
      ...run.tally.verdicts(),
      ops,
      opsPerSecond: perSecond(ops),
      durationMs: Math.round(durationMs),
      hotKey: hotLane
        ? {
            writes: hotCounts.sets,
            writesAcked: hotCounts.setsAcked,
            errors: hotCounts.errors,
            writesPerSecond: perSecond(hotCounts.sets),
          }
        : null,
      longestErrorStretchMs: Math.round(Math.max(0, ...clients.map((c) => c.longestErrorStretchMs))),
      clients,
      finalReads: final.reads,
      finalUnread: final.unread,
      wrongKeysChangedBefore: (atMs: number) => run.tally.wrongKeysChangedBefore(atMs - run.startedWallMs),
    };
  };
  let report: Promise<TrafficReport> | null = null;
  return {
    stop() {
      report ??= finish();
      return report;
    },
  };
}
