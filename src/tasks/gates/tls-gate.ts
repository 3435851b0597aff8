import type { StreamFactory } from '../../memcached/protocol-probe.js';
import { MemcachedTlsError, tlsPeerOf } from '../../memcached/tls-stream.js';
import type { GateReport, TlsCheck } from '../../report/gate-report.js';
import type { Settings } from './settings-gate.js';

// memcached with TLS (`memcached.tls`): clients trust the server through its
// certificate chain, connect with at least its protocol floor, and present a
// client certificate as its verify mode asks. The new instance is held to the
// old one on each: the chain it presents (sha256 of each certificate), the
// `ssl_min_version` and `ssl_verify_mode` of `stats settings`, and serving TLS
// at all — memplay never falls back to plain TCP, so a new instance started
// without `-Z` is refused at its first connection (swap's start), which
// reports this gate failed there.

export interface TlsRecord {
  /** null: the port did not serve TLS; why, in `error`. */
  readonly chain: readonly string[] | null;
  readonly subject: string | null;
  readonly protocol: string | null;
  readonly minVersion: string | null;
  readonly verifyMode: string | null;
  readonly error?: string;
}

/** One TLS connection's peer, and the ssl_* settings the instance reports. */
export async function measureTls(open: StreamFactory, settings: Settings | null): Promise<TlsRecord> {
  const fromSettings = {
    minVersion: settings?.ssl_min_version ?? null,
    verifyMode: settings?.ssl_verify_mode ?? null,
  };
  try {
    const stream = await open();
    const peer = tlsPeerOf(stream);
    stream.destroy();
    if (!peer)
      return { chain: null, subject: null, protocol: null, ...fromSettings, error: 'not a TLS connection' };
    return { chain: peer.chain, subject: peer.subject, protocol: peer.protocol, ...fromSettings };
  } catch (error) {
    if (!(error instanceof MemcachedTlsError)) throw error;
    return { chain: null, subject: null, protocol: null, ...fromSettings, error: error.message };
  }
}

const short = (fingerprint: string) => `${fingerprint.slice(0, 16)}…`;

function describeChain(record: TlsRecord): string | null {
  return record.chain ? record.chain.map(short).join(' ← ') : null;
}

/** Compares the old instance's TLS with the new one's. */
export function tlsGate(before: TlsRecord, after: TlsRecord): GateReport {
  const served = (r: TlsRecord) => (r.chain ? 'yes' : `no${r.error ? ` (${r.error})` : ''}`);
  const checks: TlsCheck[] = [
    { aspect: 'served', before: served(before), after: served(after), same: !before.chain || !!after.chain },
    {
      aspect: 'chain',
      before: describeChain(before),
      after: describeChain(after),
      same: JSON.stringify(before.chain) === JSON.stringify(after.chain),
    },
    // An instance that does not report a setting (older builds) has nothing to hold the new one to.
    {
      aspect: 'min_version',
      before: before.minVersion,
      after: after.minVersion,
      same: before.minVersion === null || before.minVersion === after.minVersion,
    },
    {
      aspect: 'verify_mode',
      before: before.verifyMode,
      after: after.verifyMode,
      same: before.verifyMode === null || before.verifyMode === after.verifyMode,
    },
  ];
  return tlsReport(checks, after.subject);
}

/** swap's start: the new instance refused a TLS connection (it serves plain TCP, or another certificate). */
export function tlsRefusedGate(reason: string): GateReport {
  return tlsReport([{ aspect: 'served', before: 'yes', after: `no (${reason})`, same: false }], null);
}

/**
 * --check: the old instance serves TLS now (`ssl_enabled yes`) and memcached.args
 * would start the new one without `-Z`. The rest is measured during apply.
 */
export function predictTlsGate(running: Settings, args: readonly string[]): GateReport {
  const enabled = args.includes('-Z') || args.includes('--enable-ssl');
  if (running.ssl_enabled === 'yes' && !enabled) {
    return {
      gate: 'tls',
      status: 'failed',
      detail:
        'the running instance serves TLS and memcached.args has no -Z: the new one would serve plain TCP',
      checks: [{ aspect: 'served', before: 'yes', after: 'no (memcached.args has no -Z)', same: false }],
    };
  }
  return {
    gate: 'tls',
    status: 'skipped',
    detail:
      'measured during apply: certificate chain, ssl_min_version and ssl_verify_mode before the swap and after',
    checks: [],
  };
}

function tlsReport(checks: readonly TlsCheck[], subject: string | null): GateReport {
  const changed = checks.filter((c) => !c.same);
  if (changed.length === 0) {
    return {
      gate: 'tls',
      status: 'passed',
      detail: `serves TLS with the same certificate chain${subject ? ` (${subject})` : ''}, ssl_min_version and ssl_verify_mode`,
      checks,
    };
  }
  return {
    gate: 'tls',
    status: 'failed',
    detail: `changed for TLS clients: ${changed
      .map((c) => `${c.aspect} ${c.before ?? '(not reported)'} → ${c.after ?? '(not reported)'}`)
      .join(', ')}`,
    checks,
  };
}
