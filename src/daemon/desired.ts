/**
 * The IPVS table lvsd wants, from the config and what the daemon knows at run time (health results,
 * operator drains). Pure: the reconciler compares this against the kernel.
 */
import type { Config, ServiceConfig } from '../config/types.js';
import { destId, serviceId, type DestSpec, type ServiceSpec } from '../ipvs/types.js';

export interface DesiredEntry {
  service: ServiceSpec;
  dests: DestSpec[];
}

export interface RuntimeOverrides {
  /** Per service name, the destinations the health checker wants (replaces the configured list). */
  healthDests?: ReadonlyMap<string, readonly DestSpec[]>;
  /** Drained real servers as `drainKey(service, dest)`: weight 0 until undrained. */
  drains?: ReadonlySet<string>;
}

export function drainKey(serviceName: string, dest: Pick<DestSpec, 'address' | 'port'>): string {
  return `${serviceName}/${destId(dest)}`;
}

/** The configured destinations of a service, every real server in at its configured weight. */
export function configuredDests(service: ServiceConfig): DestSpec[] {
  return service.realServers.map((rs) => rs.spec);
}

export function desiredEntry(service: ServiceConfig, overrides: RuntimeOverrides = {}): DesiredEntry {
  const dests = overrides.healthDests?.get(service.name) ?? configuredDests(service);
  const drains = overrides.drains;
  return {
    service: service.spec,
    dests: dests.map((d) => (drains?.has(drainKey(service.name, d)) ? { ...d, weight: 0 } : { ...d })),
  };
}

export function desiredTable(config: Pick<Config, 'services'>, overrides: RuntimeOverrides = {}): DesiredEntry[] {
  return config.services.map((s) => desiredEntry(s, overrides));
}

/** Service ids (serviceId strings) of a desired table, for the ownership record. */
export function desiredIds(table: readonly DesiredEntry[]): Set<string> {
  return new Set(table.map((e) => serviceId(e.service.key)));
}
