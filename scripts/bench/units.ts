// Throughput is in MB/s of value bytes (10^6 bytes), sizes in MB or MiB as named.

export const MB = 1_000_000;
export const MiB = 1024 * 1024;

export function mb(bytes: number): string {
  return `${(bytes / MB).toFixed(1)} MB`;
}

export function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${(ms / 1000).toFixed(1)} s`;
}

export function count(n: number): string {
  return n.toLocaleString('en-US');
}

export function perSecond(amount: number, ms: number): number {
  return ms > 0 ? (amount * 1000) / ms : Number.NaN;
}

export function mbPerSecond(bytes: number, ms: number): string {
  return `${(perSecond(bytes, ms) / MB).toFixed(1)} MB/s`;
}

export function itemsPerSecond(items: number, ms: number): string {
  return `${count(Math.round(perSecond(items, ms)))} items/s`;
}

export function ratio(value: number): string {
  if (!Number.isFinite(value)) return 'n/a';
  return value >= 10 ? `${value.toFixed(0)}×` : `${value.toFixed(1)}×`;
}
