import { probeBinary } from '../../memcached/binary-probe.js';
import {
  probeMetaGet,
  probeMetaNoop,
  probeTextGet,
  probeTextVersion,
  probeTimeoutMs,
  type StreamFactory,
} from '../../memcached/protocol-probe.js';
import { argumentFor } from '../../memcached/start-args.js';
import type {
  GateReport,
  ProbeAnswer,
  ProtocolComparison,
  SettingDifference,
} from '../../report/gate-report.js';
import { describeDifference, type Settings } from './settings-gate.js';

// Which protocols an instance answers, as clients speak them: text (`version`,
// `get`), meta (`mn`, `mg`), binary through memjs (version, stats, get), and
// the authentication it demands. A protocol the old instance answered and the
// new one does not fails the host, named with the setting that explains it.

export interface ProtocolProbe {
  readonly protocol: string;
  readonly probe: string;
  readonly answer: ProbeAnswer;
}

/** The settings that decide whether a protocol answers, for the failure message. */
const explainedBy: Readonly<Record<string, readonly string[]>> = {
  text: ['binding_protocol', 'auth_enabled_ascii', 'auth_enabled_sasl'],
  meta: ['binding_protocol', 'auth_enabled_ascii', 'auth_enabled_sasl'],
  binary: ['binding_protocol', 'auth_enabled_sasl'],
  auth: ['auth_enabled_sasl', 'auth_enabled_ascii'],
};

function authMode(settings: Settings | null, binaryAuthRequired: boolean, textReply: string): string {
  if (settings && ('auth_enabled_sasl' in settings || 'auth_enabled_ascii' in settings)) {
    const modes = [
      settings.auth_enabled_sasl === 'yes' ? 'sasl' : '',
      settings.auth_enabled_ascii === 'yes' ? 'ascii' : '',
    ].filter(Boolean);
    return modes.length > 0 ? modes.join('+') : 'none';
  }
  if (binaryAuthRequired) return 'sasl';
  if (/unauthenticated/i.test(textReply)) return 'ascii';
  return 'none';
}

/** Probes every protocol of the instance `open` reaches; `key` is read (a miss is an answer). */
export async function probeProtocols(
  open: StreamFactory,
  key: string,
  settings: Settings | null,
  timeoutMs = probeTimeoutMs,
): Promise<ProtocolProbe[]> {
  const [textVersion, textGet, metaNoop, metaGet, binary] = await Promise.all([
    probeTextVersion(open, timeoutMs),
    probeTextGet(open, key, timeoutMs),
    probeMetaNoop(open, timeoutMs),
    probeMetaGet(open, key, timeoutMs),
    probeBinary(open, key, timeoutMs),
  ]);
  return [
    { protocol: 'text', probe: 'version', answer: textVersion },
    { protocol: 'text', probe: 'get', answer: textGet },
    { protocol: 'meta', probe: 'mn', answer: metaNoop },
    { protocol: 'meta', probe: 'mg', answer: metaGet },
    { protocol: 'binary', probe: 'version', answer: binary.version },
    { protocol: 'binary', probe: 'stats', answer: binary.stats },
    { protocol: 'binary', probe: 'get', answer: binary.get },
    {
      protocol: 'auth',
      probe: 'mode',
      answer: { answered: true, reply: authMode(settings, binary.authRequired, textVersion.reply) },
    },
  ];
}

/** How much longer the second asking waits than the first. */
const secondAskingFactor = 5;

/**
 * The new instance's probes, asked once more with five times the time when one
 * the old instance answered timed out: a refusal is an answer, silence on a
 * starved host is not (500 lab hosts at load 30: three binary probes of a
 * healthy 1.6.38 got no reply in 2.5 s, and the host was rolled back). A slow
 * answer is the performance gate's to judge.
 */
export async function probeAgainIfTimedOut(
  open: StreamFactory,
  key: string,
  settings: Settings | null,
  before: readonly ProtocolProbe[],
  after: readonly ProtocolProbe[],
  firstTimeoutMs = probeTimeoutMs,
): Promise<readonly ProtocolProbe[]> {
  const answeredBefore = new Set(
    before.filter((p) => p.answer.answered).map((p) => `${p.protocol} ${p.probe}`),
  );
  const timedOut = after.some(
    (p) =>
      !p.answer.answered &&
      /no reply|timed? ?out/i.test(p.answer.reply) &&
      answeredBefore.has(`${p.protocol} ${p.probe}`),
  );
  if (!timedOut) return after;
  return probeProtocols(open, key, settings, firstTimeoutMs * secondAskingFactor);
}

function lost(comparison: ProtocolComparison): boolean {
  const { before, after } = comparison;
  if (!after) return false;
  if (comparison.protocol === 'auth') return before.reply !== after.reply;
  return before.answered && !after.answered;
}

function protocolNames(probes: readonly ProtocolComparison[]): string[] {
  return [...new Set(probes.map((p) => p.protocol))];
}

export function protocolGate(
  before: readonly ProtocolProbe[],
  after: readonly ProtocolProbe[],
  context: {
    readonly oldVersion: string;
    readonly newVersion: string;
    readonly settingDifferences: readonly SettingDifference[];
    /** The new instance's start arguments (memcached.args). */
    readonly args: readonly string[];
  },
): GateReport {
  const probes: ProtocolComparison[] = before.map((b) => ({
    protocol: b.protocol,
    probe: b.probe,
    before: b.answer,
    after: after.find((a) => a.protocol === b.protocol && a.probe === b.probe)?.answer ?? null,
  }));
  const broken = probes.filter(lost);
  const served = protocolNames(probes.filter((p) => p.before.answered && p.protocol !== 'auth'));
  const auth = probes.find((p) => p.protocol === 'auth');
  if (broken.length === 0) {
    const never = protocolNames(probes.filter((p) => !p.before.answered && p.protocol !== 'auth'));
    return {
      gate: 'protocol',
      status: 'passed',
      detail: `${served.join(', ') || 'no protocol'} answer as on ${context.oldVersion}; auth ${auth?.after?.reply ?? auth?.before.reply ?? 'none'}${never.length ? `; ${never.join(', ')} did not answer on ${context.oldVersion} either` : ''}`,
      probes,
    };
  }
  const messages = protocolNames(broken).map((protocol) => {
    const failing = broken.filter((p) => p.protocol === protocol);
    const what =
      protocol === 'auth'
        ? `auth ${failing[0]?.before.reply} on ${context.oldVersion}, ${failing[0]?.after?.reply} on ${context.newVersion}`
        : `${protocol} protocol answered on ${context.oldVersion} but not on ${context.newVersion} (${failing
            .map((p) => `${p.probe}: ${p.after?.reply}`)
            .join('; ')})`;
    const settings = context.settingDifferences.filter((d) => explainedBy[protocol]?.includes(d.setting));
    const why =
      settings.length > 0
        ? settings
            .map((d) => {
              const arg = argumentFor(context.args, d.setting);
              return `${describeDifference(d)}${arg && !d.source ? `, set by ${arg} in memcached.args` : ''}`;
            })
            .join(', ')
        : `no setting in stats settings explains it; see the new instance's log`;
    return `${what} — ${why}`;
  });
  return { gate: 'protocol', status: 'failed', detail: messages.join('; '), probes };
}
