/**
 * What one instance puts on the wire and takes from it, from its config: the adverts to send (one per
 * destination) and the decoding of a received payload with the instance's expectations. Pure.
 */
import type { VrrpInstanceConfig } from '../config/types.js';
import { decodeAdvert, encodeAdvert, passwordBytes, VRRP_MULTICAST_IPV4, VRRP_MULTICAST_IPV6, type Advert, type DecodeResult, type EncodeInput } from './packet.js';
import { wireInterval } from './machine-config.js';

/**
 * The encoded adverts an instance sends at `priority` from `source`: to the group, or to each unicast peer.
 * v2Compat (RFC 5798 8.4): after each VRRPv3 advert the same one in VRRPv2, for the v2 routers, at the same rate.
 */
export function outgoingAdverts(cfg: VrrpInstanceConfig, source: string, priority: number): Array<{ destination: string; payload: Buffer }> {
  const destinations = cfg.unicast ? cfg.unicast.peers : [cfg.family === 'ipv4' ? VRRP_MULTICAST_IPV4 : VRRP_MULTICAST_IPV6];
  const out: Array<{ destination: string; payload: Buffer }> = [];
  for (const destination of destinations) {
    const base = { family: cfg.family, vrid: cfg.vrid, priority, addresses: cfg.addresses.map((a) => a.address), source, destination };
    // a password (authentication) is VRRPv2-only: a v2Compat instance puts it in its VRRPv2 adverts only
    const v2: EncodeInput = { ...base, version: 2, family: 'ipv4', advertInterval: wireInterval(2, cfg.advertInterval), ...password(cfg) };
    out.push({ destination, payload: encodeAdvert(cfg.version === 3 ? { ...base, version: 3, maxAdvertInterval: wireInterval(3, cfg.advertInterval) } : v2) });
    if (cfg.version === 3 && cfg.v2Compat) out.push({ destination, payload: encodeAdvert(v2) });
  }
  return out;
}

/** Decodes a payload received on the instance's socket, checked against its version, VRID and (v2) interval. */
export function decodeIncoming(cfg: VrrpInstanceConfig, payload: Buffer, ip: { source: string; destination: string; ttl: number }): DecodeResult {
  return decodeAdvert(payload, {
    family: cfg.family, ...ip,
    // v2Compat: both versions, and a v2 master's interval is learnt, not required to equal ours (RFC 5798 8.4)
    expect: {
      vrid: cfg.vrid,
      ...(cfg.v2Compat ? {} : { version: cfg.version }),
      ...(cfg.version === 2 ? { advertInterval: wireInterval(2, cfg.advertInterval) } : {}),
      // the password is checked on VRRPv2 adverts only (a VRRPv3 one has no such field)
      ...password(cfg),
    },
  });
}

/**
 * RFC 5798 8.4: a v2Compat router ignores the VRRPv2 adverts of a router it also hears VRRPv3 from (another
 * router in the same mode sends both). `lastV3`: when that source's last VRRPv3 advert arrived and the
 * interval it carried (ms); its VRRPv2 ones are ignored for three such intervals after it. Pure.
 */
export function v2Shadowed(lastV3: { at: number; intervalMs: number } | undefined, now: number): boolean {
  return lastV3 !== undefined && now - lastV3.at <= 3 * lastV3.intervalMs;
}

/** The instance's v2 password as wire bytes, when it has one. */
function password(cfg: VrrpInstanceConfig): { password?: Buffer } {
  return cfg.authentication ? { password: passwordBytes(cfg.authentication.password) } : {};
}

/** v2Compat: the last VRRPv3 advert of each source, and whether a VRRPv2 advert is one to ignore. */
export class MixedVersions {
  private readonly v3 = new Map<string, { at: number; intervalMs: number }>();

  /** Notes a VRRPv3 advert (false); for a VRRPv2 one, whether its sender was heard in VRRPv3 lately (v2Shadowed). */
  shadowed(advert: Advert, at: number): boolean {
    if (advert.version === 3) {
      this.v3.set(advert.source, { at, intervalMs: advert.maxAdvertInterval * 10 });
      return false;
    }
    return v2Shadowed(this.v3.get(advert.source), at);
  }
}

/** The master an accepted advert shows (none for priority 0: a master leaving), as status reports it. */
export function heardMaster(advert: Advert): { address: string; priority: number; advertInterval: number } | null {
  if (advert.priority === 0) return null;
  return { address: advert.source, priority: advert.priority, advertInterval: advert.version === 3 ? advert.maxAdvertInterval / 100 : advert.advertInterval };
}
