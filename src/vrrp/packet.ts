/**
 * The VRRP advertisement codec: VRRPv3 (RFC 5798 section 5) for IPv4 and IPv6 and VRRPv2 (RFC 3768
 * section 5) for IPv4. It encodes and decodes the VRRP payload only; the kernel builds and strips the IP
 * header, so the runner hands the decoder the header facts it needs (addresses, TTL / hop limit).
 *
 * Pure. `decodeAdvert` never throws on any payload: every way a packet can be wrong is a `DropReason`.
 */
import type { Family } from '../net/address.js';
import { addressToBytes, bytesToAddress, familyOf } from '../net/address.js';
import { vrrpChecksum } from './checksum.js';

/** The only VRRP packet type (RFC 5798 section 5.2.2). */
export const VRRP_TYPE_ADVERTISEMENT = 1;
/** Header bytes before the address list, both versions. */
export const VRRP_HEADER_LENGTH = 8;
/** VRRPv2 authentication data after the address list (RFC 3768 section 5.3.10). */
export const VRRP_V2_AUTH_LENGTH = 8;
/** TTL / hop limit every advertisement is sent and must be received with. */
export const VRRP_TTL = 255;
/** The multicast groups advertisements go to (RFC 5798 section 5.1.1.2 and 5.1.2.2). */
export const VRRP_MULTICAST_IPV4 = '224.0.0.18';
export const VRRP_MULTICAST_IPV6 = 'ff02::12';

interface AdvertBase {
  family: Family;
  /** Virtual router id, 1..255. */
  vrid: number;
  /** 0..255: 0 = the master is leaving, 255 = the address owner. */
  priority: number;
  /** The virtual addresses carried, canonical text (IPv6: RFC 5952). v3 IPv6: the first is the link-local one. */
  addresses: string[];
  /** The IP source of the packet (the sender's primary address), canonical text. */
  source: string;
  /** The IP destination (the multicast group, or our address with unicast peers), canonical text. */
  destination: string;
}

export interface AdvertV3 extends AdvertBase {
  version: 3;
  /** Max Advertise Interval, centiseconds, 1..4095 (12 bits). */
  maxAdvertInterval: number;
}

export interface AdvertV2 extends AdvertBase {
  version: 2;
  family: 'ipv4';
  /** Advertisement Interval, whole seconds, 1..255. */
  advertInterval: number;
}

export type Advert = AdvertV3 | AdvertV2;

/**
 * Why a received packet was dropped. Stable names: the runner counts them per reason (metrics, logs).
 * `vrid` (another virtual router on the same link) is normal traffic, not an error to shout about.
 */
export type DropReason =
  | 'ttl'               // TTL / hop limit not 255: the packet crossed a router (RFC 5798 7.1)
  | 'version'           // not 2 or 3, not the version the instance runs, or v2 over IPv6
  | 'type'              // not ADVERTISEMENT (1)
  | 'length'            // shorter than the header, or than the address count needs
  | 'address_count'     // count 0, or more address bytes than the count says
  | 'checksum'          // checksum does not verify
  | 'vrid'              // VRID 0 or not the instance's VRID
  | 'auth'              // v2: authentication type or password other than the instance's (none: type 0)
  | 'interval'          // advertisement interval 0
  | 'interval_mismatch'; // v2: interval differs from ours (RFC 3768 7.1 says discard)

export const DROP_REASONS: readonly DropReason[] = [
  'ttl', 'version', 'type', 'length', 'address_count', 'checksum', 'vrid', 'auth', 'interval', 'interval_mismatch',
];

/** What the IP layer told the runner about a received packet, and what the receiving instance expects. */
export interface DecodeContext {
  family: Family;
  source: string;
  destination: string;
  /** IPv4 TTL or IPv6 hop limit as received (IP_RECVTTL / IPV6_RECVHOPLIMIT). */
  ttl: number;
  /** Checks against the receiving instance; each absent one is skipped (a shared socket may decode first, dispatch by VRID after). */
  expect?: {
    version?: 2 | 3;
    vrid?: number;
    /** v2 only: our Advertisement_Interval in seconds; a different one is `interval_mismatch`. */
    advertInterval?: number;
    /** v2 only: our simple-text password as its 8 wire bytes (RFC 2338 5.3.6.1 type 1); absent: type 0 (none) expected. */
    password?: Uint8Array;
  };
}

export type DecodeResult = { ok: true; advert: Advert } | { ok: false; reason: DropReason };

/**
 * The input of `encodeAdvert`: an advert (v3 with `maxAdvertInterval`, v2 with `advertInterval`, and for v2
 * optionally the simple-text password as its 8 wire bytes).
 */
export type EncodeInput = Advert & { password?: Uint8Array };

/** A VRRPv2 simple-text password as keepalived puts it on the wire: its bytes, zero-padded to 8. Throws past 8 bytes. */
export function passwordBytes(password: string): Buffer {
  const bytes = Buffer.from(password, 'utf8');
  if (bytes.length === 0 || bytes.length > VRRP_V2_AUTH_LENGTH) throw new RangeError(`a VRRPv2 password is 1 to ${VRRP_V2_AUTH_LENGTH} bytes, got ${bytes.length}`);
  const out = Buffer.alloc(VRRP_V2_AUTH_LENGTH);
  bytes.copy(out);
  return out;
}

/** RFC 2338 authentication types: 0 none, 1 simple text password. */
const AUTH_NONE = 0;
const AUTH_SIMPLE_TEXT = 1;

function addressLength(family: Family): number {
  return family === 'ipv4' ? 4 : 16;
}

/** The payload length an advert with `count` addresses has. */
export function advertLength(version: 2 | 3, family: Family, count: number): number {
  return VRRP_HEADER_LENGTH + count * addressLength(family) + (version === 2 ? VRRP_V2_AUTH_LENGTH : 0);
}

function checkInt(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`VRRP ${name} must be an integer in ${min}..${max}, got ${value}`);
  }
}

/**
 * The VRRP payload of an advertisement, checksum filled. Throws RangeError/TypeError on input that no
 * valid packet can carry (the config normaliser rules those out; this is a programming error).
 */
export function encodeAdvert(input: EncodeInput): Buffer {
  const { version, family, vrid, priority, addresses, source, destination } = input;
  if (version === 2 && family !== 'ipv4') throw new RangeError('VRRPv2 is IPv4 only');
  if (input.password !== undefined && (version !== 2 || input.password.length !== VRRP_V2_AUTH_LENGTH)) {
    throw new RangeError('a password is VRRPv2 only and 8 bytes on the wire');
  }
  checkInt('vrid', vrid, 1, 255);
  checkInt('priority', priority, 0, 255);
  checkInt('address count', addresses.length, 1, 255);
  const interval = version === 3 ? input.maxAdvertInterval : input.advertInterval;
  checkInt(version === 3 ? 'max advert interval (centiseconds)' : 'advert interval (seconds)', interval, 1, version === 3 ? 0x0fff : 0xff);
  for (const a of [source, destination, ...addresses]) {
    if (familyOf(a.split('%')[0]!) !== family) throw new TypeError(`not an ${family} address: ${JSON.stringify(a)}`);
  }

  const out = Buffer.alloc(advertLength(version, family, addresses.length));
  out[0] = (version << 4) | VRRP_TYPE_ADVERTISEMENT;
  out[1] = vrid;
  out[2] = priority;
  out[3] = addresses.length;
  if (version === 3) {
    out.writeUInt16BE(interval & 0x0fff, 4); // the 4 reserved bits stay zero
  } else {
    // auth type 0: none (RFC 3768 5.3.6); 1: simple text (RFC 2338 5.3.6.1), which keepalived still speaks
    out[4] = input.password ? AUTH_SIMPLE_TEXT : AUTH_NONE;
    out[5] = interval;
  }
  const size = addressLength(family);
  addresses.forEach((a, i) => addressToBytes(a).copy(out, VRRP_HEADER_LENGTH + i * size));
  // v2 auth data: the password, or 8 zero bytes (already zero)
  if (version === 2 && input.password) Buffer.from(input.password).copy(out, out.length - VRRP_V2_AUTH_LENGTH);
  out.writeUInt16BE(vrrpChecksum(version, family, source, destination, out), 6);
  return out;
}

function canonical(family: Family, address: string): string {
  return bytesToAddress(family, addressToBytes(address));
}

/**
 * Validate and decode a received VRRP payload (RFC 5798 section 7.1, RFC 3768 section 7.1). Checks run
 * in this order, the first failing one names the reason: ttl, length of the fixed header, version (2 or 3,
 * v2 only over IPv4, the expected one), type, address count, length for the count, checksum, vrid,
 * auth (v2), interval, interval mismatch (v2). Never throws on any payload.
 */
export function decodeAdvert(payload: Uint8Array, ctx: DecodeContext): DecodeResult {
  const drop = (reason: DropReason): DecodeResult => ({ ok: false, reason });
  const { family, expect } = ctx;
  if (ctx.ttl !== VRRP_TTL) return drop('ttl');
  if (payload.length < VRRP_HEADER_LENGTH) return drop('length');
  const version = payload[0]! >> 4;
  if (version !== 2 && version !== 3) return drop('version');
  if (version === 2 && family !== 'ipv4') return drop('version');
  if (expect?.version !== undefined && expect.version !== version) return drop('version');
  if ((payload[0]! & 0x0f) !== VRRP_TYPE_ADVERTISEMENT) return drop('type');
  const count = payload[3]!;
  if (count === 0) return drop('address_count');
  const needed = advertLength(version, family, count);
  if (payload.length < needed) return drop('length');
  if (payload.length > needed) return drop('address_count');
  if (vrrpChecksum(version, family, ctx.source, ctx.destination, payload) !== 0) return drop('checksum');
  const vrid = payload[1]!;
  if (vrid === 0 || (expect?.vrid !== undefined && expect.vrid !== vrid)) return drop('vrid');
  if (version === 2) {
    const want = expect?.password;
    if (payload[4] !== (want ? AUTH_SIMPLE_TEXT : AUTH_NONE)) return drop('auth');
    if (want && !Buffer.from(payload.subarray(needed - VRRP_V2_AUTH_LENGTH, needed)).equals(Buffer.from(want))) return drop('auth');
  }
  const interval = version === 3 ? ((payload[4]! << 8) | payload[5]!) & 0x0fff : payload[5]!;
  if (interval === 0) return drop('interval');
  if (version === 2 && expect?.advertInterval !== undefined && expect.advertInterval !== interval) {
    return drop('interval_mismatch');
  }

  const size = addressLength(family);
  const addresses: string[] = [];
  for (let i = 0; i < count; i++) {
    const at = VRRP_HEADER_LENGTH + i * size;
    addresses.push(bytesToAddress(family, payload.subarray(at, at + size)));
  }
  const base = {
    family,
    vrid,
    priority: payload[2]!,
    addresses,
    source: canonical(family, ctx.source),
    destination: canonical(family, ctx.destination),
  };
  const advert: Advert =
    version === 3 ? { version: 3, ...base, maxAdvertInterval: interval } : { version: 2, ...base, family: 'ipv4', advertInterval: interval };
  return { ok: true, advert };
}
