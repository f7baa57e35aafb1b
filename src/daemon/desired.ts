/**
 * The IPVS table lvsd wants, from the config and what the daemon knows at run time (health results,
 * operator drains). Pure: the reconciler compares this against the kernel.
 */
import type { Config, RealServerConfig, ServiceConfig } from '../config/types.js';
import { probeTarget } from '../health/index.js';
import { destId, destSpec, serviceId, type DesiredEntry, type DestSpec } from '../table/index.js';

export type { DesiredEntry };

export interface RuntimeOverrides {
  /** Per service name, the destinations the health checker wants (replaces the configured list). */
  healthDests?: ReadonlyMap<string, readonly DestSpec[]>;
  /** Drained real servers as `drainKey(service, dest)`: weight 0 until undrained. */
  drains?: ReadonlySet<string>;
}

export function drainKey(serviceName: string, dest: Pick<DestSpec, 'address' | 'port'>): string {
  return `${serviceName}/${destId(dest)}`;
}

/**
 * Who a real server is for drains, status and metrics: (service name, destination), or in a group (the
 * group's name, the server's shared id), so one drain or series covers the server in every member.
 */
export function realServerOwner(service: Pick<ServiceConfig, 'name' | 'group'>, rs: Pick<RealServerConfig, 'spec' | 'shared'>): { service: string; realServer: string } {
  return service.group && rs.shared
    ? { service: service.group.name, realServer: rs.shared.id }
    : { service: service.name, realServer: destId(rs.spec) };
}

/** The drain key of a configured real server (see realServerOwner). */
export function realServerDrainKey(service: Pick<ServiceConfig, 'name' | 'group'>, rs: Pick<RealServerConfig, 'spec' | 'shared'>): string {
  const o = realServerOwner(service, rs);
  return `${o.service}/${o.realServer}`;
}

/** The configured destinations of a service, every real server in at its configured weight. */
export function configuredDests(service: ServiceConfig): DestSpec[] {
  return service.realServers.map((rs) => rs.spec);
}

export function desiredEntry(service: ServiceConfig, overrides: RuntimeOverrides = {}): DesiredEntry {
  return entryOf(service, overrides.healthDests?.get(service.name), overrides.drains);
}

/**
 * desiredEntry with the service's list given as it is (`dests`: the health checker's, or undefined for the
 * configured one): no map to make per health change.
 */
export function entryOf(service: ServiceConfig, health: readonly DestSpec[] | undefined, drains: ReadonlySet<string> | undefined): DesiredEntry {
  const dests = health ?? configuredDests(service);
  const drained = (d: DestSpec): boolean => {
    if (!drains || drains.size === 0) return false;
    if (!service.group) return drains.has(drainKey(service.name, d));
    const rs = service.realServers.find((r) => r.spec.address === d.address && r.spec.port === d.port);
    return rs !== undefined && drains.has(realServerDrainKey(service, rs));
  };
  // The health checker's (or the config's) objects themselves, a copy only for a drained one: at 100,000
  // real servers a copy of every object per health change was ~0.7 GB allocated while they rose at start.
  // Nobody mutates a desired entry's objects, nor its list: with nothing drained the list itself (a new
  // array per health change was ~10 MiB of the start's garbage at 10,000 real servers).
  if (!drains || drains.size === 0) return { service: service.spec, dests: dests as DestSpec[] };
  return {
    service: service.spec,
    dests: dests.map((d) => (drained(d) ? destSpec(d, 0) : d)),
  };
}

export function desiredTable(config: Pick<Config, 'services'>, overrides: RuntimeOverrides = {}): DesiredEntry[] {
  return config.services.map((s) => desiredEntry(s, overrides));
}

/** Service ids (serviceId strings) of a desired table, for the ownership record. */
export function desiredIds(table: readonly DesiredEntry[]): Set<string> {
  return new Set(table.map((e) => serviceId(e.service.key)));
}

/**
 * What a restarted daemon found in the kernel for one declared service: the kernel's destinations, and the
 * real servers the health checker has given a verdict on since the start (their health-desired entry wins).
 */
export interface Adoption {
  kernel: readonly DestSpec[];
  verdicts: ReadonlySet<string>;
}

/**
 * A restarted daemon adopts the table the previous one left: until the health checker has a verdict on a
 * real server, that server keeps what the kernel holds (its weight, or its absence); otherwise a restart
 * would inhibit every real server for rise x interval (initialState down) or put back ones that were down.
 * The sorry server keeps its kernel presence until every real server of the service has a verdict.
 * Attributes other than the weight always come from the config.
 */
export function adoptDests(service: ServiceConfig, health: readonly DestSpec[], adoption: Adoption): DestSpec[] {
  const kernelById = new Map(adoption.kernel.map((d) => [destId(d), d]));
  const healthById = new Map(health.map((d) => [destId(d), d]));
  const out: DestSpec[] = [];
  const seen = new Set<string>();
  for (const rs of service.realServers) {
    const id = destId(rs.spec);
    if (seen.has(id)) continue;
    seen.add(id);
    if (adoption.verdicts.has(destId(probeTarget(rs)))) {
      const h = healthById.get(id);
      if (h) out.push(h);
      continue;
    }
    const k = kernelById.get(id);
    if (k) out.push(destSpec(rs.spec, k.weight));
  }
  const sorry = service.sorryServer;
  if (sorry) {
    const id = destId(sorry);
    if (!seen.has(id)) {
      // Until every real server has a verdict the others stand at their kernel weights, so the sorry
      // server's place is still the kernel's; removing it early could leave nobody serving.
      const allJudged = service.realServers.every((rs) => adoption.verdicts.has(destId(probeTarget(rs))));
      const sorryFromHealth = allJudged ? healthById.get(id) : kernelById.has(id) ? sorry : undefined;
      if (sorryFromHealth) out.push(sorryFromHealth);
    }
  }
  return out;
}

/**
 * How long a restarted daemon keeps the adopted kernel weights: long enough for every probed real server
 * to rise or fall once (0: nothing is probed, nothing to wait for).
 */
export function adoptionSettleSeconds(config: Pick<Config, 'services'>): number {
  let settleS = 0;
  for (const svc of config.services) {
    for (const rs of svc.realServers) {
      const c = rs.healthCheck;
      if (c.type !== 'none') settleS = Math.max(settleS, c.interval * (Math.max(c.rise, c.fall) + 1) + c.timeout);
    }
  }
  return settleS;
}
