/**
 * Probes are shared: one probe (check + target) can serve several (service, real server) pairs. Metrics
 * count each result per pair, so each probe's users are looked up once per config, not per result.
 */
import type { Config } from '../config/types.js';
import { checkKey, type Prober } from '../health/index.js';
import { destId } from '../table/index.js';

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
        const key = checkKey(rs.healthCheck, rs.spec);
        let list = users.get(key);
        if (!list) users.set(key, (list = []));
        list.push({ service: s.name, realServer: destId(rs.spec) });
      }
    }
    this.byKey = { config, users };
    return users;
  }
}

/** The (service, real server) pairs of a config, as "name\0destId". */
export function realServerPairs(config: Config): Set<string> {
  const out = new Set<string>();
  for (const s of config.services) for (const rs of s.realServers) out.add(`${s.name}\0${destId(rs.spec)}`);
  return out;
}
