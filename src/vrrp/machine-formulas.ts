/**
 * The RFC's formulas the VRRP state machine uses (RFC 5798 6.1, 6.4.3, 8.4): the effective priority with
 * tracking, the fault causes, Skew_Time, Master_Down_Interval, the address tie-break, the interval an
 * advert teaches. Pure.
 */
import { addressToBytes } from '../net/address.js';
import type { VrrpState } from './machine-types.js';
import type { Advert } from './packet.js';

type TrackView = Pick<VrrpState, 'config' | 'trackDown'> & { trackEffects?: VrrpState['trackEffects'] };

/**
 * Configured priority plus the weights of down tracked interfaces and the deltas of tracked scripts, files
 * and processes, clamped to 1..254; the owner (255) stays 255.
 */
export function effectivePriority(s: TrackView): number {
  const { priority, trackInterfaces } = s.config;
  if (priority === 255) return 255;
  let p = priority;
  for (const t of trackInterfaces) if (s.trackDown.includes(t.name)) p += t.weight;
  for (const e of Object.values(s.trackEffects ?? {})) if (typeof e === 'number') p += e;
  return Math.min(254, Math.max(1, p));
}

/** Why the instance is faulty on its own account (not counting the sync group), or undefined. */
export function ownFaultCause(s: TrackView & Pick<VrrpState, 'interfaceUp'>): 'interface_down' | 'track_down' | undefined {
  if (!s.interfaceUp) return 'interface_down';
  if (s.config.trackInterfaces.some((t) => t.weight === 0 && s.trackDown.includes(t.name))) return 'track_down';
  if (Object.values(s.trackEffects ?? {}).includes('fault')) return 'track_down';
  return undefined;
}

/** Skew_Time, ms. v3: ((256 - Priority) * Master_Adver_Interval) / 256; v2: (256 - Priority) / 256 seconds. */
export function skewTime(version: 2 | 3, priority: number, masterAdverInterval: number): number {
  return version === 3 ? ((256 - priority) * masterAdverInterval) / 256 : ((256 - priority) * 1000) / 256;
}

/** Master_Down_Interval, ms: 3 * Master_Adver_Interval (v2: Advertisement_Interval) + Skew_Time. */
export function masterDownInterval(version: 2 | 3, priority: number, masterAdverInterval: number): number {
  return 3 * masterAdverInterval + skewTime(version, priority, masterAdverInterval);
}

/** Compare two addresses of one family as unsigned integers in network byte order (RFC 5798 6.4.3). */
export function compareAddresses(a: string, b: string): number {
  return Buffer.compare(addressToBytes(a), addressToBytes(b));
}

/**
 * Master_Adver_Interval from an advert, ms: a v3 machine learns it from every advert it accepts, from a
 * VRRPv2 one too (v2Compat: its seconds, RFC 5798 8.4); a v2 machine never learns (mismatches are dropped).
 */
export function advertIntervalMs(a: Advert): number {
  return a.version === 3 ? a.maxAdvertInterval * 10 : a.advertInterval * 1000;
}
