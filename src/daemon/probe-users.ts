/**
 * Probes are shared: one probe (check + target) can serve several (service, real server) pairs. Metrics
 * count each result per pair, so each probe's users are looked up once per config, not per result.
 *
 * The map from probe to users follows the config in force: a reload that changed services in place
 * (service-delta.ts), none of them in a group, has its services' entries replaced, in proportion to the
 * change; any other reload drops the map, and the next probe result builds it again. Nothing here holds a config the daemon
 * switched away from (only a weak reference to the one the map was made for).
 */
import type { Config, ServiceConfig } from '../config/types.js';
import { checkKey, realServerKey, type Prober } from '../health/index.js';
import { realServerOwner } from './desired.js';
import type { ServicesDelta } from './service-delta.js';

export interface ProbeUser { service: string; realServer: string }

export class ProbeUsers {
  /** The users of each probe key, for the config `made` refers to; `gen` counts the maps made or changed. */
  private byKey: { made: WeakRef<Config>; users: Map<string, ProbeUser[]> } | undefined;
  private gen = 0;
  /** The same, per target object (the scheduler keeps one per probe): no key is rebuilt per probe while `gen` holds. */
  private readonly byTarget = new WeakMap<object, { gen: number; users: ProbeUser[] }>();

  constructor(private readonly config: () => Config) {}

  of(check: Parameters<Prober>[0], target: Parameters<Prober>[1]): ProbeUser[] {
    const users = this.all(this.config());
    const hit = this.byTarget.get(target);
    if (hit?.gen === this.gen) return hit.users;
    const found = users.get(checkKey(check, target)) ?? [];
    this.byTarget.set(target, { gen: this.gen, users: found });
    return found;
  }

  /**
   * A reload switched from `old` to `next`. With the delta (the services changed in place), the map, when
   * made for `old`, has those services' users taken out and their replacements' put in; otherwise it is dropped.
   */
  switched(old: Config, next: Config, delta: ServicesDelta | undefined): void {
    if (next === old) return;
    const map = this.byKey;
    // a group's members share one user per probe: taking one member's out could take the others' too
    if (!map || map.made.deref() !== old || !delta || delta.before.some((s) => s.group !== undefined)) {
      this.byKey = undefined;
      this.gen++;
      return;
    }
    for (const s of delta.before) {
      for (const rs of s.realServers) {
        const key = realServerKey(rs);
        const owner = realServerOwner(s, rs);
        const list = map.users.get(key);
        if (!list) continue;
        // lists are replaced, never changed: a caller may still hold the old one
        const kept = list.filter((u) => u.service !== owner.service || u.realServer !== owner.realServer);
        if (kept.length === 0) map.users.delete(key);
        else map.users.set(key, kept);
      }
    }
    for (const s of delta.after) addUsers(map.users, s, true);
    this.byKey = { made: new WeakRef(next), users: map.users };
    this.gen++;
  }

  private all(config: Config): Map<string, ProbeUser[]> {
    if (this.byKey?.made.deref() === config) return this.byKey.users;
    const users = new Map<string, ProbeUser[]>();
    for (const s of config.services) addUsers(users, s, false);
    this.byKey = { made: new WeakRef(config), users };
    this.gen++;
    return users;
  }
}

/** Adds a service's real servers to the users of their probes (a group's members: one user, the group's). */
function addUsers(users: Map<string, ProbeUser[]>, s: ServiceConfig, copy: boolean): void {
  for (const rs of s.realServers) {
    const key = realServerKey(rs);
    const owner = realServerOwner(s, rs);
    const list = users.get(key);
    if (list?.some((u) => u.service === owner.service && u.realServer === owner.realServer)) continue;
    if (!list) users.set(key, [owner]);
    else if (copy) users.set(key, [...list, owner]);
    else list.push(owner);
  }
}

/** The (service, real server) pairs of a config's metric series, as "name\0id" (a group's: its name and shared id). */
export function realServerPairs(config: Pick<Config, 'services'>): Set<string> {
  const out = new Set<string>();
  for (const s of config.services) {
    for (const rs of s.realServers) {
      const o = realServerOwner(s, rs);
      out.add(`${o.service}\0${o.realServer}`);
    }
  }
  return out;
}
