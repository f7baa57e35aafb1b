/**
 * The largest values lvsd can honour, and the checks of text and addresses that every part of the config
 * shares. Pure.
 */
import { addressToBytes, canonicalAddress, familyOf, ipv4Value, parseIPv4 } from '../net/address.js';
import { formatDuration } from './duration.js';

/** A Node timer's longest delay: 2^31-1 ms (a longer one fires after 1 ms, again and again). */
export const MAX_TIMER_SECONDS = 2147483.647;
/**
 * IPVS protocol timeouts (tcp, tcpFin, udp): the kernel keeps them in jiffies in an int and refuses
 * seconds above INT_MAX / HZ; with HZ up to 1000 that is 2147483 s on every kernel.
 */
export const MAX_IPVS_TIMEOUT_SECONDS = 2147483;
/**
 * Persistence timeout: the kernel multiplies the seconds by HZ into an unsigned int without a check, so
 * above UINT_MAX / HZ (4294967 s with HZ = 1000) it silently wraps.
 */
export const MAX_PERSISTENCE_SECONDS = 4294967;

/** Why a duration in seconds is above `max`, or undefined when it is not. */
export function overMax(seconds: number, max: number, why: string): string | undefined {
  if (seconds <= max) return undefined;
  return `must be at most ${formatDuration(max)} (${why})`;
}

export const TIMER_WHY = 'the longest timer Node can arm, 2^31-1 ms';

/** Control characters (C0, DEL, C1) and the Unicode line and paragraph separators. */
export { escapeControl, hasControl } from '../escape.js';
import { escapeControl } from '../escape.js';

/**
 * Why a canonical address cannot be a service address, real server, VIP or peer: multicast, broadcast and
 * unspecified addresses name no single host. Undefined when it can.
 */
export function unusableHostAddress(address: string): string | undefined {
  const v4 = ipv4Value(address);
  if (v4 >= 0) return unusableIPv4(address, v4);
  if (familyOf(address) !== 'ipv6') return undefined;
  if (address === '::') return ':: is the unspecified address, not a host';
  if (/^ff/i.test(address)) return `${address} is a multicast address, not a host`;
  const b = addressToBytes(address);
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    const inner = unusableHostAddress(`${b[12]}.${b[13]}.${b[14]}.${b[15]}`);
    if (inner !== undefined) return `${address} is IPv4-mapped: ${inner}`;
  }
  return undefined;
}

/** unusableHostAddress of a dotted quad, given its value (ipv4Value). */
function unusableIPv4(address: string, value: number): string | undefined {
  if (value === 0) return `${address} is the unspecified address, not a host`;
  if (value === 0xffffffff) return `${address} is the broadcast address, not a host`;
  const first = value >>> 24;
  if (first >= 224 && first <= 239) return `${address} is a multicast address, not a host`;
  return undefined;
}

/** Why an IPv4 address is the broadcast address of its /len subnet (lengths up to 30 have one). */
export function subnetBroadcast(address: string, prefixLength: number): string | undefined {
  const v4 = parseIPv4(address);
  if (!v4 || prefixLength > 30) return undefined;
  const value = ((v4[0] << 24) | (v4[1] << 16) | (v4[2] << 8) | v4[3]) >>> 0;
  const host = prefixLength === 0 ? 0xffffffff : (0xffffffff >>> prefixLength);
  if ((value & host) === host) return `${address} is the broadcast address of its /${prefixLength} subnet, not a host`;
  return undefined;
}

/** Why an address is written with a zone ("fe80::1%eth0"), which lvsd does not carry to the kernel. */
export function zoneProblem(text: string): string | undefined {
  const at = text.indexOf('%');
  if (at < 0) return undefined;
  return `"${escapeControl(text)}" has a zone (${escapeControl(text.slice(at))}); lvsd does not carry zones: write the address without it (a VRRP instance's addresses are on its interface)`;
}

/**
 * A host address as the config writes it, canonical, or why it cannot be one: not an address, a zone,
 * multicast, broadcast or unspecified.
 */
export function hostAddress(text: string): { address: string } | { error: string } {
  // a dotted quad (most addresses) is its own canonical text and has no zone: its value settles the rest
  const v4 = ipv4Value(text);
  if (v4 >= 0) {
    const unusable = unusableIPv4(text, v4);
    return unusable !== undefined ? { error: unusable } : { address: text };
  }
  const zone = zoneProblem(text);
  if (zone !== undefined) return { error: zone };
  const address = canonicalAddress(text);
  if (address === undefined) return { error: `"${escapeControl(text)}" is not an IP address` };
  const unusable = unusableHostAddress(address);
  return unusable !== undefined ? { error: unusable } : { address };
}
