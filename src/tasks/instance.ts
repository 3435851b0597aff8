import { buildOfLink } from '../facts/host-facts.js';
import { waitForPort, wakeWhileStopping } from '../facts/wait.js';
import { memorySettings } from '../memcached/memory-settings.js';
import { MemcachedTlsError } from '../memcached/tls-stream.js';
import { serviceControl } from '../service/service.js';
import { sh } from '../transport/quote.js';
import { tlsRefusedGate } from './gates/tls-gate.js';
import { unknownBinaryReason } from './known-binary.js';
import type { TaskContext } from './task.js';

// The moves that take an instance down and bring one up, shared by swap (old →
// new) and rollback (whatever runs → the build before the swap). Each returns
// what happened; the caller decides what a failure means for its task.

const stopGraceMs = 10_000;
const startTimeoutMs = 15_000;

export type Step = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** The build a link in the prefix (`current`, `previous`) names, or null if there is none. */
export async function readBuildLink(ctx: TaskContext, name: 'current' | 'previous'): Promise<string | null> {
  const result = await ctx.transport.run(sh`readlink ${`${ctx.host.memcached.prefix}/${name}`}`);
  return result.code === 0 ? buildOfLink(result.stdout.trim()) : null;
}

/** Points `<prefix>/<name>` at a build atomically: a new link renamed over the old one. */
export async function pointBuildLink(
  ctx: TaskContext,
  name: 'current' | 'previous',
  build: string,
): Promise<Step> {
  const link = `${ctx.host.memcached.prefix}/${name}`;
  const next = `${link}.memplay-new`;
  ctx.progress(`point ${name} → ${build}`);
  const result = await ctx.transport.run(sh`ln -sfn ${build} ${next} && mv -T ${next} ${link}`);
  return result.code === 0
    ? { ok: true }
    : { ok: false, reason: `pointing ${link} → ${build} failed: ${result.stderr.trim()}` };
}

/**
 * Stops the instance and waits until nothing answers on the port. `forRestart`:
 * with SIGUSR1, so memcached writes `<memory file>.meta` for a warm start.
 */
export async function stopInstance(ctx: TaskContext, options: { forRestart?: boolean } = {}): Promise<Step> {
  const service = serviceControl(ctx.host);
  const { port } = ctx.host.memcached;
  const command = options.forRestart ? service.stopForRestart?.() : service.stop();
  if (!command) return { ok: false, reason: `${service.describe} cannot stop memcached with SIGUSR1` };
  ctx.progress(
    options.forRestart
      ? 'stop the running instance with SIGUSR1 (warm restart)'
      : 'stop the running instance',
  );
  const stopping = ctx.transport.run(command, service.runOptions);
  await wakeWhileStopping(ctx.transport, port, stopping);
  const stopped = await stopping;
  if (stopped.code !== 0) {
    return { ok: false, reason: `stopping memcached (${service.describe}) failed: ${stopped.stderr.trim()}` };
  }
  const down = await waitForPort(ctx.transport, port, (v) => v === null, stopGraceMs);
  if (!down.accepted) {
    return {
      ok: false,
      reason: `port ${port} still answers ${down.version} after the stop — another instance holds the port`,
    };
  }
  return { ok: true };
}

/** The old instance's command line as read back, or why it is not run again. */
export type ReadCommandLine = { readonly argv: string[] } | { readonly refused: string };

/**
 * The command line the running memcached was started with (pidfile manager
 * only), read from /proc before swap stops it. A rollback restarts the old
 * build with it: the playbook's args may be what broke the new one. It is used
 * only when it starts a build memplay installed (unknownBinaryReason).
 */
export async function runningCommandLine(ctx: TaskContext): Promise<ReadCommandLine | null> {
  const service = ctx.host.memcached.service;
  if (service.manager !== 'pidfile') return null;
  const read = await ctx.transport.run(
    sh`pid=$(cat ${service.pidfile} 2>/dev/null) && [ -n "$pid" ] && tr '\\0' '\\n' < /proc/"$pid"/cmdline`,
  );
  const argv = read.stdout.split('\n').filter((arg) => arg !== '');
  if (read.code !== 0 || argv.length === 0) return null;
  const builds = (ctx.run.startFacts?.builds ?? []).map((build) => build.dir);
  const refused = unknownBinaryReason(argv, ctx.host.memcached.prefix, builds);
  return refused ? { refused } : { argv };
}

/**
 * Starts `<prefix>/current` (or runs `argv`, a command line runningCommandLine
 * read) and waits until the port answers with `version`.
 */
export async function startInstance(
  ctx: TaskContext,
  version: string,
  argv?: readonly string[],
): Promise<Step> {
  ctx.progress(`start ${version}`);
  const service = serviceControl(ctx.host);
  const start = argv
    ? await ctx.transport.run(sh`${argv}`)
    : await ctx.transport.run(service.start(), service.runOptions);
  if (start.code !== 0) {
    return { ok: false, reason: `start exited ${start.code}: ${(start.stderr || start.stdout).trim()}` };
  }
  let up: Awaited<ReturnType<typeof waitForPort>>;
  try {
    up = await waitForPort(ctx.transport, ctx.host.memcached.port, (v) => v === version, startTimeoutMs);
  } catch (error) {
    // memplay never falls back to plain TCP: a TLS instance's successor that does not
    // serve TLS (started without -Z) fails the tls gate here, and the host rolls back.
    // No TLS client could reach it, so it held nothing: it is stopped at once, and the
    // rollback finds the port free for the old build.
    if (!(error instanceof MemcachedTlsError)) throw error;
    ctx.reportGate(tlsRefusedGate(error.message));
    const stopped = await stopInstance(ctx);
    const left = stopped.ok ? '' : `; stopping it failed too: ${stopped.reason}`;
    return { ok: false, reason: `tls gate failed: ${error.message}${left}` };
  }
  if (!up.accepted) {
    const seen = up.version ? `answers ${up.version}` : 'nothing answers';
    return { ok: false, reason: `port ${ctx.host.memcached.port}: ${seen} after ${startTimeoutMs / 1000}s` };
  }
  return { ok: true };
}

// memcached resumes a memory file only when the wall clock has moved past the
// second the old instance stopped in: on start it computes `now - stop_time`
// from the .meta and starts empty, exit status 0, when that is not above 0
// (memcached.c, R_STOP_TIME, the same in 1.6.18, 1.6.38 and 1.6.45). Waiting for
// the clock costs up to a second inside the out-of-service window (measured:
// warm 0.57–1.20 s at 120 MB, most of it this wait). Instead, when the clock has
// not passed it, the .meta's stop_time is moved back one second: memcached then
// counts that second as elapsed — items expire at most one second early (a miss,
// never an older value); values, flags and cas are untouched. memplay made the
// instance write this .meta moments ago (its SIGUSR1), and the file carries no
// checksum to break (restart.c: "TODO: update crc32c").
export const metaReadyScript = `
meta=$1
[ -e "$meta" ] || { echo "no $meta" >&2; exit 1; }
stop=$(sed -n 's/^Kstop_time //p' "$meta" | head -n 1)
case "$stop" in ''|*[!0-9]*) echo "$meta has no stop_time" >&2; exit 1;; esac
if [ "$(date +%s)" -le "$stop" ]; then
  sed "s/^Kstop_time .*/Kstop_time $((stop - 1))/" "$meta" > "$meta.memplay-new" && mv -f "$meta.memplay-new" "$meta" || exit 1
fi
exit 0
`;

/**
 * Whether memcached left `<memoryFile>.meta`, the file a warm start resumes
 * from; returns once a start would resume it at once (see metaReadyScript).
 */
export async function metaWaiting(ctx: TaskContext, memoryFile: string): Promise<boolean> {
  const result = await ctx.transport.run(sh`sh -c ${metaReadyScript} memplay-meta ${`${memoryFile}.meta`}`);
  return result.code === 0;
}

/**
 * Moves a `.meta` aside (to `<memoryFile>.meta.memplay-refused`, kept for a
 * post-mortem) so the next start is cold: memcached resumes from any `.meta` it
 * finds, and the cold path must not load what the proof refused.
 */
export async function setMetaAside(ctx: TaskContext, memoryFile: string): Promise<Step> {
  const meta = `${memoryFile}.meta`;
  const result = await ctx.transport.run(
    sh`if [ -e ${meta} ]; then mv -f ${meta} ${`${meta}.memplay-refused`}; fi`,
  );
  return result.code === 0
    ? { ok: true }
    : { ok: false, reason: `moving ${meta} aside failed: ${result.stderr.trim()}` };
}

/**
 * systemd: what the swap must do to the drop-in that points the unit at
 * `<prefix>/current` — null when it already says what it must (or with the
 * pidfile manager), else a phrase for the plan. Read-only.
 */
export async function dropInChange(ctx: TaskContext): Promise<string | null> {
  const dropIn = serviceControl(ctx.host).dropIn;
  if (!dropIn) return null;
  const read = await ctx.transport.run(dropIn.read());
  if (read.stdout === dropIn.text) return null;
  const verb = read.stdout === '' ? 'write' : 'rewrite';
  return `${verb} drop-in ${dropIn.path} (ExecStart → ${ctx.host.memcached.prefix}/current/bin/memcached) and daemon-reload`;
}

/** Writes the drop-in when it differs and reloads systemd; changes nothing that runs. */
export async function installDropIn(ctx: TaskContext): Promise<Step> {
  const service = serviceControl(ctx.host);
  if (!service.dropIn || (await dropInChange(ctx)) === null) return { ok: true };
  ctx.progress(`write ${service.dropIn.path}, daemon-reload`);
  const written = await ctx.transport.run(service.dropIn.install(), service.runOptions);
  return written.code === 0
    ? { ok: true }
    : {
        ok: false,
        reason: `writing the systemd drop-in ${service.dropIn.path} (then daemon-reload) exited ${written.code}: ${(written.stderr || written.stdout).trim()}${ctx.host.become ? '' : ' — set become: true if the SSH user may not write there'}`,
      };
}

/** The memory files (-e) of the instance that ran and of the playbook's args. */
export function memoryFilesOf(ctx: TaskContext): string[] {
  const files = new Set<string>();
  const running = ctx.run.swap.previousCommandLine
    ? memorySettings(ctx.run.swap.previousCommandLine)['-e']
    : undefined;
  const wanted = memorySettings(ctx.host.memcached.args)['-e'];
  if (running) files.add(running);
  if (wanted) files.add(wanted);
  return [...files];
}

/** Which step of a restart onto another build fell short, and why. */
export type RestartResult =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly step: 'stop' | 'set .meta aside' | 'repoint' | 'start';
      readonly reason: string;
    };

export interface RestartOptions {
  /** SIGUSR1 instead of the manager's stop (memcached writes its `.meta`, and its logger drains). */
  readonly forRestart?: boolean;
  /** Runs once the old process is gone, before anything else changes (settling the old side's fence). */
  readonly afterStop?: () => Promise<void>;
  /** Memory files whose `.meta` must not be resumed: the new process starts clean from them. */
  readonly setAside?: readonly string[];
  /** What the new process runs with, when not the playbook's args (a rollback to the old command line). */
  readonly argv?: readonly string[];
}

/**
 * The one stop → repoint → start sequence (swap's cold path, a warm attempt's
 * fall back, a rollback): the host is out of service from the stop until the
 * new build answers. Stops at the first step that falls short and says which.
 */
export async function restartOnBuild(
  ctx: TaskContext,
  version: string,
  options: RestartOptions = {},
): Promise<RestartResult> {
  const stopped = await stopInstance(ctx, options.forRestart ? { forRestart: true } : {});
  if (!stopped.ok) return { ok: false, step: 'stop', reason: stopped.reason };
  await options.afterStop?.();
  for (const file of options.setAside ?? []) {
    const aside = await setMetaAside(ctx, file);
    if (!aside.ok) return { ok: false, step: 'set .meta aside', reason: aside.reason };
  }
  const repointed = await pointBuildLink(ctx, 'current', version);
  if (!repointed.ok) return { ok: false, step: 'repoint', reason: repointed.reason };
  const started = await startInstance(ctx, version, options.argv);
  if (!started.ok) return { ok: false, step: 'start', reason: started.reason };
  return { ok: true };
}
