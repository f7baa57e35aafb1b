/**
 * Probes are shared: one probe (check + target) can serve several (service, real server) pairs. Metrics
 * count each result per pair, so each probe's users are looked up once per config, not per result.
 */
import type { Config } from '../config/types.js';
import { checkKey, realServerKey, type Prober } from '../health/index.js';
import { realServerOwner } from './desired.js';

export interface ProbeUser { service: string; realServer: string }

export class ProbeUsers {
  private byKey: { config: Config; users: Map<string, ProbeUser[]> } | undefined;
  /** The same, per target object (the scheduler keeps one per probe): no key is rebuilt per probe. */
  private readonly byTarget = new WeakMap<object, { config: Config; users: ProbeUser[] }>();

  constructor(private readonly config: () => Config) {}

  of(check: Parameters<Prober>[0], target: Parameters<Prober>[1]): ProbeUser[] {
    const config = this.config();
    const hit = this.byTarget.get(target);
    if (hit?.config === config) return hit.users;
    const users = this.all(config).get(checkKey(check, target)) ?? [];
    this.byTarget.set(target, { config, users });
    return users;
  }

  private all(config: Config): Map<string, ProbeUser[]> {
    if (this.byKey?.config === config) return this.byKey.users;
    const users = new Map<string, ProbeUser[]>();
    for (const s of config.services) {
      for (const rs of s.realServers) {
        const key = realServerKey(rs);
        let list = users.get(key);
        if (!list) users.set(key, (list = []));
        // a group's members share the probe and the series: one user for the group
        const owner = realServerOwner(s, rs);
        if (!list.some((u) => u.service === owner.service && u.realServer === owner.realServer)) list.push(owner);
      }
    }
    this.byKey = { config, users };
    return users;
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
