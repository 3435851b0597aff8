// What each of verify's three gates found on one host: the old instance as
// recorded before swap stopped it, against the new one after restore. These
// shapes go out as JSON `gate` events, so their field names are a contract.

export type GateName = 'protocol' | 'settings' | 'performance' | 'tls';

/** passed; failed (the host fails, or in --check: would fail); skipped (nothing to compare). */
export type GateStatus = 'passed' | 'failed' | 'skipped';

/** One probe's answer on one instance. */
export interface ProbeAnswer {
  /** The protocol gave a well-formed reply (a miss is an answer too). */
  readonly answered: boolean;
  /** What came back, shortened: `VERSION 1.6.18`, `hit`, `miss`, or why nothing did. */
  readonly reply: string;
}

export interface ProtocolComparison {
  /** `text`, `meta`, `binary`, `auth`. */
  readonly protocol: string;
  /** `version`, `get`, `mn`, `mg`, `stats`, `mode`. */
  readonly probe: string;
  readonly before: ProbeAnswer;
  readonly after: ProbeAnswer | null;
}

export interface SettingDifference {
  /** The `stats settings` name, as `verify.accept_settings` lists it. */
  readonly setting: string;
  /** null: the instance does not report this setting (a setting new or gone in this version). */
  readonly before: string | null;
  readonly after: string | null;
  /** Changes what clients see (item size limit, connection limit, protocols, auth, eviction/LRU, memory). */
  readonly client_visible: boolean;
  /** Listed in `verify.accept_settings`. */
  readonly accepted: boolean;
  /** --check: where the predicted value comes from (`-B ascii`, `memcached's default`). */
  readonly source?: string;
}

/** Medians over the rounds of one mode, and every round's figures in order. */
export interface LoadFigures {
  readonly ops_per_sec: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly per_round: {
    readonly ops_per_sec: readonly number[];
    readonly p50_ms: readonly number[];
    readonly p99_ms: readonly number[];
  };
}

export interface PerformanceSide {
  readonly single: LoadFigures;
  readonly pipelined: LoadFigures;
  readonly rounds: number;
  /** Real keys read in the get share of the mix (0: the cache held none, only memplay's own keys were read). */
  readonly sampled_keys: number;
  /**
   * What the load wrote: `none` when the cache held client items (a write could
   * allocate in a full slab class and evict one), `own-keys` into an empty cache,
   * where memplay's keys (`memplay:gate:…`, deleted at the end) cost nothing.
   */
  readonly writes: 'none' | 'own-keys';
  /**
   * How many hosts' loads ran at the same instant, this one's included: the hosts of
   * a rolling batch are measured together (1 for serial 1, and in figures from before).
   */
  readonly hosts_measured_together?: number;
}

/** tls gate: one aspect of the TLS a client meets, on the old instance and the new. */
export interface TlsCheck {
  /** `served`, `chain` (sha256 of each certificate, leaf first), `min_version`, `verify_mode`. */
  readonly aspect: 'served' | 'chain' | 'min_version' | 'verify_mode';
  /** null: not reported by that instance. */
  readonly before: string | null;
  readonly after: string | null;
  readonly same: boolean;
}

interface GateBase {
  readonly status: GateStatus;
  /** One line for people: what was compared and why it passed or failed. */
  readonly detail: string;
}

export type GateReport =
  | (GateBase & { readonly gate: 'protocol'; readonly probes: readonly ProtocolComparison[] })
  | (GateBase & {
      readonly gate: 'settings';
      /** Every setting that differs, client-visible ones first. */
      readonly differences: readonly SettingDifference[];
      /** --check: what the prediction cannot see. */
      readonly unpredictable?: string;
    })
  | (GateBase & {
      readonly gate: 'tls';
      /** Every aspect compared (empty when skipped). */
      readonly checks: readonly TlsCheck[];
    })
  | (GateBase & {
      readonly gate: 'performance';
      readonly before: PerformanceSide | null;
      readonly after: PerformanceSide | null;
      readonly max_latency_regression: number;
      readonly min_throughput_ratio: number;
    });
