/**
 * The adverts an instance takes from the wire: decoded and checked against its config (wire.ts), its own
 * looped back and those of unicast peers it does not know dropped, VRRPv2 ones a VRRPv3 sender shadows
 * ignored (v2Compat), the invalid ones counted; the master last heard, and when the last advert came.
 */
import type { VrrpInstanceConfig } from '../config/types.js';
import type { VrrpPacketInfo } from '../net/index.js';
import type { Advert, DropReason } from './packet.js';
import { decodeIncoming, heardMaster, MixedVersions } from './wire.js';
import type { InstanceCounters, InstanceHooks } from './instance-types.js';

export class AdvertIntake {
  /** The master last heard; none while this instance is master. */
  lastMaster: { address: string; advertInterval: number; priority: number } | null = null;
  /** Monotonic time of the last advert accepted from the wire (for the takeover timing line). */
  lastAdvertAt: number | undefined;
  /** v2Compat: which VRRPv2 adverts to ignore (RFC 5798 8.4). */
  private readonly mixed = new MixedVersions();

  constructor(private readonly counters: InstanceCounters, private readonly hooks: InstanceHooks) {}

  /**
   * One datagram from the socket, received at `arrived`, for the instance `cfg` whose adverts go out from
   * `ours`: the advert for its machine and whether the master heard changed, or undefined when dropped.
   */
  take(cfg: VrrpInstanceConfig, ours: string, payload: Buffer, info: VrrpPacketInfo, arrived: number): { advert: Advert; masterChanged: boolean } | undefined {
    const { source, destination, ttl } = info;
    const decoded = decodeIncoming(cfg, payload, { source, destination, ttl });
    if (!decoded.ok) {
      if (decoded.reason !== 'vrid') this.countInvalid(cfg.name, decoded.reason); // another virtual router on the link: normal
      return undefined;
    }
    if (source === ours) return undefined; // our own advert looped back
    if (cfg.unicast && !cfg.unicast.peers.includes(source)) {
      this.countInvalid(cfg.name, 'foreign_peer');
      return undefined;
    }
    const advert = decoded.advert;
    if (cfg.v2Compat && this.mixed.shadowed(advert, arrived)) return undefined;
    this.counters.advertsReceived++;
    this.lastAdvertAt = arrived;
    const heard = heardMaster(advert);
    const last = this.lastMaster;
    const masterChanged = heard !== null && (!last || last.address !== heard.address || last.priority !== heard.priority || last.advertInterval !== heard.advertInterval);
    if (heard) this.lastMaster = heard;
    return { advert, masterChanged };
  }

  private countInvalid(instance: string, reason: DropReason | 'foreign_peer'): void {
    this.counters.invalid[reason] = (this.counters.invalid[reason] ?? 0) + 1;
    this.hooks.onInvalid?.(instance, reason);
  }
}
