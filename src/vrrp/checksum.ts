/**
 * The Internet checksum (RFC 1071) as VRRP uses it: the 16-bit one's complement of the one's complement
 * sum of the message, for VRRPv3 with an IPv4 or IPv6 pseudo-header in front (RFC 5798 section 5.2.8),
 * for VRRPv2 over the VRRP message alone (RFC 3768 section 5.3.8). Pure; no I/O.
 */
import type { Family } from '../net/address.js';
import { addressToBytes } from '../net/address.js';

/** The IP protocol number (IPv4) and next header (IPv6) of VRRP. */
export const IPPROTO_VRRP = 112;

/** One's complement sum of `data` folded into 16 bits, added to `initial` (an unfolded running sum). */
export function onesComplementSum(data: Uint8Array, initial = 0): number {
  let sum = initial;
  const even = data.length & ~1;
  for (let i = 0; i < even; i += 2) sum += (data[i]! << 8) | data[i + 1]!;
  if (data.length & 1) sum += data[data.length - 1]! << 8; // odd length: pad with a zero byte
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The checksum field value for `data` (the field itself must be zero in `data`), or 0 when verifying a valid message. */
export function internetChecksum(data: Uint8Array, initial = 0): number {
  return ~onesComplementSum(data, initial) & 0xffff;
}

/**
 * The pseudo-header of RFC 5798 section 5.2.8: IPv4 is source, destination, zero, protocol 112 and the
 * 16-bit VRRP length (RFC 768 layout); IPv6 is source, destination, 32-bit upper-layer length, three zero
 * bytes and next header 112 (RFC 8200 section 8.1).
 */
export function pseudoHeader(family: Family, source: string, destination: string, length: number): Buffer {
  if (family === 'ipv4') {
    const out = Buffer.alloc(12);
    addressToBytes(source).copy(out, 0);
    addressToBytes(destination).copy(out, 4);
    out[9] = IPPROTO_VRRP;
    out.writeUInt16BE(length & 0xffff, 10);
    return out;
  }
  const out = Buffer.alloc(40);
  addressToBytes(source).copy(out, 0);
  addressToBytes(destination).copy(out, 16);
  out.writeUInt32BE(length >>> 0, 32);
  out[39] = IPPROTO_VRRP;
  return out;
}

/**
 * The VRRP checksum of `message` (checksum field zeroed, or as received when verifying):
 * version 3 includes the pseudo-header, version 2 does not.
 */
export function vrrpChecksum(
  version: 2 | 3,
  family: Family,
  source: string,
  destination: string,
  message: Uint8Array,
): number {
  const initial = version === 3 ? pseudoSum(family, source, destination, message.length) : 0;
  return internetChecksum(message, initial);
}

/**
 * The last pseudo-header's sum: a router sends and receives the same (source, destination, length) advert
 * after advert, and building it (two addresses parsed) was an eighth of the VRRP thread's CPU per advert
 * received (docs/benchmarks.md, "the daemon's fixed cost"). A memo of a pure function: results unchanged.
 */
let lastPseudo: { family: Family; source: string; destination: string; length: number; sum: number } | undefined;

function pseudoSum(family: Family, source: string, destination: string, length: number): number {
  const l = lastPseudo;
  if (l !== undefined && l.length === length && l.source === source && l.destination === destination && l.family === family) return l.sum;
  const sum = onesComplementSum(pseudoHeader(family, source, destination, length));
  lastPseudo = { family, source, destination, length, sum };
  return sum;
}
