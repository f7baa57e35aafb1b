/**
 * What a reload changed in the services list, when that is known precisely: the config layer hands a
 * service it did not rebuild as the very object of the config in force (config/service-memo.ts), so the
 * services at the same place are compared by identity, a pointer each. A delta is made only when the
 * lists have the same length and every service that differs keeps its place, name, kernel key and group:
 * then every part keyed by name or by kernel key (the health checker's entries, the reconciler's desired
 * table, the daemon's maps) is the one in force with those entries replaced where they stand, and each
 * part does work in proportion to the change. Anything else (a service added, removed, renamed, moved,
 * given another key or group; most of the list changed, as a change of the health section rebuilds every
 * item) gives no delta, and every part runs its full pass. Pure.
 */
import type { Config, ServiceConfig } from '../config/types.js';
import { canonicalServiceId } from '../table/index.js';

export interface ServicesDelta {
  /** The services of the config in force that the reload replaced, in list order. */
  before: readonly ServiceConfig[];
  /** What replaced them, at the same places: same name, kernel key and group, another object. */
  after: readonly ServiceConfig[];
}

/** Above this share of the list changed, the full passes are used (they are the same work then, and long proven). */
const MAX_SHARE = 0.25;

function sameGroup(a: ServiceConfig, b: ServiceConfig): boolean {
  const g = a.group;
  const h = b.group;
  if (g === undefined || h === undefined) return g === h;
  return g.name === h.name && g.index === h.index && g.size === h.size;
}

/**
 * The delta from `old` to `next`, or undefined when the services did not change in place only (see above).
 * `changed`: the indices at which they are other objects, when the config layer knows them
 * (config/cache.ts servicesChanged): only those are looked at, not every service.
 */
export function servicesDelta(old: Config, next: Config, changed?: readonly number[]): ServicesDelta | undefined {
  const a = old.services;
  const b = next.services;
  if (a.length !== b.length) return undefined;
  const before: ServiceConfig[] = [];
  const after: ServiceConfig[] = [];
  const most = Math.floor(a.length * MAX_SHARE);
  const indices = changed ?? { length: a.length };
  for (let k = 0; k < indices.length; k++) {
    const i = changed !== undefined ? changed[k]! : k;
    const s = a[i]!;
    const t = b[i]!;
    if (s === t) continue;
    if (before.length >= most || s.name !== t.name || !sameGroup(s, t)) return undefined;
    if (canonicalServiceId(s.spec.key) !== canonicalServiceId(t.spec.key)) return undefined;
    before.push(s);
    after.push(t);
  }
  return { before, after };
}
