/**
 * Identity of a probe, so the same check of the same real server used by several services is probed once:
 * check type, the real server, and every check parameter. And a deterministic start offset from that
 * identity, which spreads many probes over their interval instead of firing them at once.
 */
import type { HealthCheckConfig, RealServerConfig } from '../config/types.js';
import { formatHostPort } from '../net/address.js';
import type { ProbeTarget } from './types.js';

function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stable(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * What a real server's probe targets: its destination, or in a group the one port shared by every member
 * (so the members' destinations, whose ports may differ, share one probe). Outside a group it is the
 * destination object itself (which has the address and port): no object of its own per probe.
 */
export function probeTarget(rs: Pick<RealServerConfig, 'spec' | 'shared'>): ProbeTarget {
  return rs.shared === undefined ? rs.spec : { address: rs.spec.address, port: rs.shared.port };
}

/**
 * A check's parameters other than its address and port (interval, rise, the HTTP path ...) as a small
 * number: every distinct text gets the next one, for the life of the process. The real servers of a
 * service share their check's parameters, so a table has a handful; a key carries the number instead of
 * the text (~100 characters per probe before: 13 MiB of keys at 100,000 real servers, and two WeakMaps
 * of texts and keys per check object beside them).
 */
const paramIds = new Map<string, number>();

function paramsText(check: HealthCheckConfig): string {
  // the common checks of a large table have fixed fields: their text without stable()'s sort
  if (check.type === 'tcp' || check.type === 'ping' || check.type === 'none') {
    const close = check.type === 'tcp' && check.close !== undefined ? check.close : '';
    return `${check.type}/${check.interval}/${check.timeout}/${check.rise}/${check.fall}/${close}`;
  }
  const { address: _a, port: _p, ...params } = check;
  return stable(params);
}

function paramsId(check: HealthCheckConfig): number {
  const text = paramsText(check);
  let id = paramIds.get(text);
  if (id === undefined) paramIds.set(text, (id = paramIds.size));
  return id;
}

/**
 * The identity of a probe: check type, the real server, the address and port probed and every other
 * parameter (as paramsId's number). Two probes have one key exactly when their checks are equal field
 * for field (in any property order) and their targets are the same.
 */
export function checkKey(check: HealthCheckConfig, target: ProbeTarget): string {
  // join() makes one flat string; a template literal would keep a tree of its parts (~3x the bytes)
  return [check.type, formatHostPort(target.address, target.port), formatHostPort(check.address, check.port), paramsId(check)].join(' ');
}

/** checkKey of a real server's own probe. */
export function realServerKey(rs: Pick<RealServerConfig, 'spec' | 'shared' | 'healthCheck'>): string {
  return checkKey(rs.healthCheck, probeTarget(rs));
}

/**
 * A fixed offset in [0, intervalMs) for a key: the same key always gets the same offset. FNV-1a over the
 * key's UTF-16 units with a final mix (murmur3's fmix32), not a SHA-256: 10,000 keys hashed with node:crypto
 * took 2.8 s of a 14 s block at start in the TCG VM; the spread is what matters here, not the strength.
 */
export function probeOffset(key: string, intervalMs: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return Math.floor(((h >>> 0) / 0x1_0000_0000) * intervalMs);
}
