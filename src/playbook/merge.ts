import { serviceDefaults } from './document.generated.js';

/** A YAML mapping as plain data, before validation has vouched for its shape. */
export type RawRecord = Record<string, unknown>;

export function isRecord(value: unknown): value is RawRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A host's settings over the defaults: mappings merge key by key and the host's keys win;
 * lists and plain values replace (a host's `args` is its whole argument list).
 */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (!isRecord(base) || !isRecord(over)) return over;
  const merged: RawRecord = { ...base };
  for (const [key, value] of Object.entries(over)) merged[key] = deepMerge(base[key], value);
  return merged;
}

/**
 * The settings a host ends up with. One exception to the deep merge: a host's service
 * naming a different manager replaces the default service, since a pidfile and a
 * systemd unit do not mix.
 */
export function mergeHostSettings(defaults: unknown, host: unknown): RawRecord {
  const merged = deepMerge(isRecord(defaults) ? defaults : {}, isRecord(host) ? host : {}) as RawRecord;
  const hostService = serviceOf(host);
  const defaultService = serviceOf(defaults);
  if (
    hostService?.manager !== undefined &&
    (defaultService?.manager ?? serviceDefaults.manager) !== hostService.manager &&
    isRecord(merged.memcached)
  ) {
    merged.memcached = { ...merged.memcached, service: hostService };
  }
  return merged;
}

function serviceOf(settings: unknown): RawRecord | undefined {
  if (!isRecord(settings) || !isRecord(settings.memcached)) return undefined;
  const service = settings.memcached.service;
  return isRecord(service) ? service : undefined;
}
