import { errorMessage, TaskFailed } from '../../errors.js';
import { queryMemcached } from '../../facts/memcached-port.js';
import { speaksMeta } from '../../memcached/backup-path.js';
import { LoadCleanupFailed } from '../../memcached/load-probe.js';
import { MetaClient } from '../../memcached/meta-client.js';
import { isProbeKey, type StreamFactory } from '../../memcached/protocol-probe.js';
import type { HostConfig } from '../../playbook/types.js';
import type { PerformanceSide } from '../../report/gate-report.js';
import type { Transport } from '../../transport/transport.js';
import { gateKeyPrefix, measurePerformance } from './performance-gate.js';
import { type ProtocolProbe, probeProtocols } from './protocol-gate.js';
import type { Settings } from './settings-gate.js';
import { measureTls, type TlsRecord } from './tls-gate.js';

// What verify's gates compare: one instance's protocols, `stats settings` and
// load figures. Recorded for the old instance right before swap stops it
// (recordOldInstance), and measured again on the new one after the restore
// with the same sampled keys.

export interface InstanceRecord {
  readonly version: string;
  /** null: `stats settings` did not answer. */
  readonly settings: Settings | null;
  readonly protocols: readonly ProtocolProbe[];
  readonly performance: PerformanceSide | null;
  /** Why there are no load figures. */
  readonly performanceError?: string;
  /** With memcached.tls: the TLS a client meets. */
  readonly tls?: TlsRecord;
}

/** The keys the gates read on both sides, sampled from the old instance. */
export interface GateSample {
  /** Read by every protocol's get probe. */
  readonly probeKey: string;
  /** Read by the load's get share (empty: the cache held no key every protocol can carry). */
  readonly readKeys: readonly string[];
  readonly valueBytes: number;
}

export type OldInstance =
  | { readonly recorded: InstanceRecord; readonly sample: GateSample }
  | { readonly unavailable: string };

const sampleKeys = 64;
const scanLimit = 5000;
/** A sampled key must outlive the swap and restore, or the new side reads a miss the old did not. */
const minRemainingTtl = 600;

/** A sample of live keys, from the start of a metadump (hash order: effectively random). */
async function sampleLiveKeys(open: StreamFactory): Promise<GateSample> {
  const client = await MetaClient.connect(open, { connections: 1, metadumpBusyTimeoutMs: 5000 });
  const keys: string[] = [];
  const sizes: number[] = [];
  try {
    const clock = await client.serverClock();
    let scanned = 0;
    // Leaving the loop early closes the dump's connection; memcached stops the crawl.
    for await (const entry of client.metadumpEntries()) {
      if (++scanned > scanLimit || keys.length >= sampleKeys) break;
      const key = entry.key.toString('latin1');
      if (!isProbeKey(entry.key) || key.startsWith(gateKeyPrefix)) continue;
      if (entry.exptime !== 0 && entry.exptime < clock.now() + minRemainingTtl) continue;
      keys.push(key);
      sizes.push(Math.max(16, entry.size - entry.key.length - 56));
    }
  } catch {
    // No sample (a crawl of someone else's holds the crawler): the load reads memplay's own keys.
  } finally {
    client.close();
  }
  sizes.sort((a, b) => a - b);
  const valueBytes = Math.min(16 * 1024, sizes[Math.floor(sizes.length / 2)] ?? 256);
  return { probeKey: keys[0] ?? `${gateKeyPrefix}probe`, readKeys: keys, valueBytes };
}

function settingsRecord(map: Map<string, string> | null): Settings | null {
  return map ? Object.fromEntries(map) : null;
}

/**
 * What measuring an instance needs: the host's memcached and a way to say what
 * it does. Narrower than a task's context, so the gates depend on no task.
 */
export interface GateContext {
  readonly host: HostConfig;
  readonly transport: Transport;
  /** The hosts of this rolling batch: the load is measured in waves of about that many. */
  readonly peers: readonly { readonly name: string }[];
  progress(phase: string): void;
}

/** `together`: how many hosts' loads to run this one's beside (the batch's, by default). */
export async function measureInstance(
  ctx: GateContext,
  version: string,
  sample: GateSample,
  together = ctx.peers.length,
): Promise<InstanceRecord> {
  const port = ctx.host.memcached.port;
  const open = () => ctx.transport.openTcp(port);
  ctx.progress(`gates: stats settings and protocol probes of ${version}`);
  const settings = settingsRecord(await queryMemcached(ctx.transport, port, (c) => c.statsSettings()));
  const protocols = await probeProtocols(open, sample.probeKey, settings);
  const tls = ctx.host.memcached.tls ? { tls: await measureTls(open, settings) } : {};
  if (!speaksMeta(version)) {
    // The load is written in meta commands: on an older instance it would measure refusals.
    const performanceError = `memcached ${version} speaks no meta protocol, which the load is written in: not measured`;
    return { version, settings, protocols, performance: null, performanceError, ...tls };
  }
  ctx.progress(
    `gates: load on ${version} (get/set mix, single and pipelined${together > 1 ? `, with ${together - 1} other hosts of this batch` : ''})`,
  );
  try {
    const performance = await measurePerformance(open, sample.readKeys, sample.valueBytes, together);
    return { version, settings, protocols, performance, ...tls };
  } catch (error) {
    // The load's own keys may be left: never let them ride along into a backup or a restored cache.
    if (error instanceof LoadCleanupFailed) throw error;
    const reason = errorMessage(error);
    return { version, settings, protocols, performance: null, performanceError: reason, ...tls };
  }
}

/**
 * Right before swap stops the old instance (and before the backup's delta
 * pass, so the load's own keys, written and deleted here, never reach the
 * backup): what the gates will hold the new instance to. An upgrade only.
 */
export async function recordOldInstance(ctx: GateContext): Promise<OldInstance> {
  const port = ctx.host.memcached.port;
  const version = await queryMemcached(ctx.transport, port, (c) => c.version());
  if (version === null) return { unavailable: `nothing answered on port ${port} before the swap` };
  try {
    ctx.progress(`gates: sample keys of ${version}`);
    const sample = await sampleLiveKeys(() => ctx.transport.openTcp(port));
    return { recorded: await measureInstance(ctx, version, sample), sample };
  } catch (error) {
    throw new TaskFailed(
      ctx.host.name,
      'swap',
      `recording ${version} for verify's gates failed: ${errorMessage(error)} — nothing was stopped, the old instance keeps serving`,
    );
  }
}
