/**
 * What one instance puts on the wire and takes from it, from its config: the adverts to send (one per
 * destination) and the decoding of a received payload with the instance's expectations. Pure.
 */
import type { VrrpInstanceConfig } from '../config/types.js';
import { decodeAdvert, encodeAdvert, VRRP_MULTICAST_IPV4, VRRP_MULTICAST_IPV6, type Advert, type DecodeResult } from './packet.js';
import { wireInterval } from './state-machine.js';

/** The encoded adverts an instance sends at `priority` from `source`: to the group, or to each unicast peer. */
export function outgoingAdverts(cfg: VrrpInstanceConfig, source: string, priority: number): Array<{ destination: string; payload: Buffer }> {
  const destinations = cfg.unicast ? cfg.unicast.peers : [cfg.family === 'ipv4' ? VRRP_MULTICAST_IPV4 : VRRP_MULTICAST_IPV6];
  return destinations.map((destination) => {
    const base = { family: cfg.family, vrid: cfg.vrid, priority, addresses: cfg.addresses.map((a) => a.address), source, destination };
    const advert: Advert = cfg.version === 3
      ? { ...base, version: 3, maxAdvertInterval: wireInterval(3, cfg.advertInterval) }
      : { ...base, version: 2, family: 'ipv4', advertInterval: wireInterval(2, cfg.advertInterval) };
    return { destination, payload: encodeAdvert(advert) };
  });
}

/** Decodes a payload received on the instance's socket, checked against its version, VRID and (v2) interval. */
export function decodeIncoming(cfg: VrrpInstanceConfig, payload: Buffer, ip: { source: string; destination: string; ttl: number }): DecodeResult {
  return decodeAdvert(payload, {
    family: cfg.family, ...ip,
    expect: { version: cfg.version, vrid: cfg.vrid, ...(cfg.version === 2 ? { advertInterval: wireInterval(2, cfg.advertInterval) } : {}) },
  });
}

/** The master an accepted advert shows (none for priority 0: a master leaving), as status reports it. */
export function heardMaster(advert: Advert): { address: string; priority: number; advertInterval: number } | null {
  if (advert.priority === 0) return null;
  return { address: advert.source, priority: advert.priority, advertInterval: advert.version === 3 ? advert.maxAdvertInterval / 100 : advert.advertInterval };
}
