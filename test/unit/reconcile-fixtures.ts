/** Builders for services and real servers in the reconciler's tests, every default filled. */
import type { DestSpec, KernelDest, KernelEntry, ServiceSpec } from '../../src/ipvs/types.js';
import { familyOf } from '../../src/net/address.js';

export function tcp(address: string, port: number, over: Partial<ServiceSpec> = {}): ServiceSpec {
  const family = familyOf(address) ?? 'ipv4';
  return {
    key: { kind: 'addr', family, protocol: 'tcp', address, port },
    scheduler: 'wlc', flags: 0, timeout: 0, netmask: family === 'ipv6' ? 128 : 0xffffffff, pe: '',
    ...over,
  };
}

export function udp(address: string, port: number, over: Partial<ServiceSpec> = {}): ServiceSpec {
  const s = tcp(address, port, over);
  return { ...s, key: { ...s.key, protocol: 'udp' } as ServiceSpec['key'] };
}

export function fwmark(mark: number, over: Partial<ServiceSpec> = {}, family: 'ipv4' | 'ipv6' = 'ipv4'): ServiceSpec {
  return {
    key: { kind: 'fwmark', family, fwmark: mark },
    scheduler: 'wlc', flags: 0, timeout: 0, netmask: family === 'ipv6' ? 128 : 0xffffffff, pe: '',
    ...over,
  };
}

export function rs(address: string, port: number, over: Partial<DestSpec> = {}): DestSpec {
  return {
    family: familyOf(address) ?? 'ipv4', address, port, forwarding: 'nat', weight: 1,
    upperThreshold: 0, lowerThreshold: 0, tunnelType: 'ipip', tunnelPort: 0, tunnelFlags: 0,
    ...over,
  };
}

/** A real server as a dump reports it, with connection counters. */
export function krs(address: string, port: number, over: Partial<KernelDest> = {}): KernelDest {
  return { ...rs(address, port), activeConns: 3, inactiveConns: 7, persistentConns: 1, ...over };
}

export function entry(service: ServiceSpec, dests: KernelDest[] = []): KernelEntry {
  return { service, dests };
}
