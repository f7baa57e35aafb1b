/**
 * What an instance's VRRP state machine needs from the config, in the machine's units (milliseconds), and
 * the interval as the wire carries it. Pure.
 */
import type { VrrpInstanceConfig } from '../config/types.js';
import { canonicalAddress } from '../net/address.js';

/** What an instance's state machine needs from the config, in the machine's units (milliseconds). */
export interface MachineConfig {
  version: 2 | 3;
  /** Configured priority 1..255; 255 = address owner. */
  priority: number;
  /** Advertisement_Interval, ms (v3: a multiple of 10, v2: of 1000). */
  advertInterval: number;
  preempt: boolean;
  /** ms a preempting backup waits, after first seeing a lower-priority master, before it may take over. 0 = RFC behaviour. */
  preemptDelay: number;
  /** The virtual addresses we advertise, canonical text; received lists are compared with them. */
  addresses: readonly string[];
  /** Our primary address (the source of our adverts), for the equal-priority tie-break. */
  localAddress: string;
  /** Weight added to the priority while the interface is down; 0 = fault while it is down. */
  trackInterfaces: ReadonlyArray<{ name: string; weight: number }>;
}

/**
 * The machine config of an instance: seconds become ms (v3 rounded to centiseconds, v2 to whole seconds,
 * as the wire carries them), addresses canonical. `localAddress` is the source of our adverts.
 */
export function machineConfigFrom(cfg: VrrpInstanceConfig, localAddress: string): MachineConfig {
  return {
    version: cfg.version,
    priority: cfg.priority,
    advertInterval: advertIntervalOf(cfg),
    preempt: cfg.preempt,
    preemptDelay: Math.round(cfg.preemptDelay * 1000),
    addresses: cfg.addresses.map((a) => canonicalAddress(a.address) ?? a.address),
    localAddress: canonicalAddress(localAddress) ?? localAddress,
    trackInterfaces: cfg.trackInterfaces.map((t) => ({ ...t })),
  };
}

/** The instance's advert interval in ms, as the wire carries it (v3 centiseconds, v2 whole seconds). */
export function advertIntervalOf(cfg: Pick<VrrpInstanceConfig, 'version' | 'advertInterval'>): number {
  return wireInterval(cfg.version, cfg.advertInterval) * (cfg.version === 3 ? 10 : 1000);
}

/** The interval field of the wire: v3 centiseconds 1..4095, v2 whole seconds 1..255, from seconds. */
export function wireInterval(version: 2 | 3, seconds: number): number {
  return version === 3
    ? Math.min(4095, Math.max(1, Math.round(seconds * 100)))
    : Math.min(255, Math.max(1, Math.round(seconds)));
}
