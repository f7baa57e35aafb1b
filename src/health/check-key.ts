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
 * (so the members' destinations, whose ports may differ, share one probe).
 */
export function probeTarget(rs: Pick<RealServerConfig, 'spec' | 'shared'>): ProbeTarget {
  return { address: rs.spec.address, port: rs.shared?.port ?? rs.spec.port };
}

/**
 * stable() of each check config seen: a reload that reuses a service's config (config/service-memo.ts)
 * hands the same objects again, and configs are never mutated, so a check is serialised once.
 */
const stableChecks = new WeakMap<HealthCheckConfig, string>();

export function checkKey(check: HealthCheckConfig, target: ProbeTarget): string {
  let text = stableChecks.get(check);
  if (text === undefined) stableChecks.set(check, (text = stable(check)));
  return `${check.type} ${formatHostPort(target.address, target.port)} ${text}`;
}

const realServerKeys = new WeakMap<Pick<RealServerConfig, 'spec' | 'shared' | 'healthCheck'>, string>();

/** checkKey of a real server's own probe, kept per (never mutated) real server config: a reload that reuses it builds no key. */
export function realServerKey(rs: Pick<RealServerConfig, 'spec' | 'shared' | 'healthCheck'>): string {
  let key = realServerKeys.get(rs);
  if (key === undefined) realServerKeys.set(rs, (key = checkKey(rs.healthCheck, probeTarget(rs))));
  return key;
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
