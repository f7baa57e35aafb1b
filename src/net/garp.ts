/**
 * Pure builders for the packets that announce an address takeover on the link: the gratuitous ARP
 * frame (IPv4) and the unsolicited neighbour advertisement (IPv6). No I/O here: src/net/announce.ts sends them.
 *
 * Gratuitous ARP: a broadcast ARP *request* with sender = target = the address and the sender hardware
 * address = the interface's MAC, as operators expect from VRRP routers (RFC 5227 "ARP announcement";
 * Linux updates an existing neighbour entry on either a request or a reply, and a request is what every
 * host processes). A reply form is available for networks whose devices only honour replies.
 *
 * Unsolicited NA (RFC 4861 4.4, 7.2.6): ICMPv6 type 136 with Solicited = 0, Override = 1 and the target
 * link-layer address option, sent to ff02::1 with hop limit 255.
 */
import { addressToBytes, familyOf } from './address.js';

export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ICMPV6_NEIGHBOR_ADVERT = 136;
export const ALL_NODES = 'ff02::1';

const BROADCAST_MAC = Buffer.alloc(6, 0xff);

/** Bytes of a MAC written as six hex pairs separated by ':' or '-'. Throws a TypeError otherwise. */
export function parseMac(mac: string | Uint8Array): Buffer {
  if (typeof mac !== 'string') {
    if (mac.length !== 6) throw new TypeError(`a MAC address has 6 bytes, got ${mac.length}`);
    return Buffer.from(mac);
  }
  const parts = mac.split(/[:-]/);
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new TypeError(`not a MAC address: ${JSON.stringify(mac)}`);
  }
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

/** "aa:bb:cc:dd:ee:ff", lowercase. */
export function formatMac(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function ipv4Bytes(address: string): Buffer {
  if (familyOf(address) !== 'ipv4') throw new TypeError(`not an IPv4 address: ${JSON.stringify(address)}`);
  return addressToBytes(address);
}

function ipv6Bytes(address: string): Buffer {
  if (familyOf(address) !== 'ipv6') throw new TypeError(`not an IPv6 address: ${JSON.stringify(address)}`);
  return addressToBytes(address);
}

/**
 * The 42-byte Ethernet frame of a gratuitous ARP for `address` from `mac`: broadcast destination,
 * ARP over Ethernet/IPv4, sender = target = address. A request carries a zero target MAC; a reply
 * carries the sender's MAC there too (what Linux's arp_is_garp accepts for replies).
 */
export function buildGratuitousArp(mac: string | Uint8Array, address: string, op: 'request' | 'reply' = 'request'): Buffer {
  if (op !== 'request' && op !== 'reply') throw new TypeError(`ARP op must be request or reply, got ${JSON.stringify(op)}`);
  const hw = parseMac(mac);
  const ip = ipv4Bytes(address);
  const frame = Buffer.alloc(42);
  BROADCAST_MAC.copy(frame, 0);
  hw.copy(frame, 6);
  frame.writeUInt16BE(ETHERTYPE_ARP, 12);
  frame.writeUInt16BE(1, 14); // hardware type: Ethernet
  frame.writeUInt16BE(0x0800, 16); // protocol type: IPv4
  frame[18] = 6; // hardware address length
  frame[19] = 4; // protocol address length
  frame.writeUInt16BE(op === 'request' ? 1 : 2, 20);
  hw.copy(frame, 22); // sender hardware address
  ip.copy(frame, 28); // sender protocol address
  if (op === 'reply') hw.copy(frame, 32); // target hardware address (zero for a request)
  ip.copy(frame, 38); // target protocol address
  return frame;
}

export interface NaOptions {
  /** Set the Router flag: only when this node forwards for the address (a default gateway VIP). Default false. */
  router?: boolean;
  /**
   * The IPv6 source the message will be sent from; when given the ICMPv6 checksum is filled in (needed
   * only when sending outside a raw ICMPv6 socket, where the kernel computes it). Default: checksum 0.
   */
  source?: string;
  /** Destination for the checksum pseudo-header. Default ff02::1. */
  destination?: string;
}

/**
 * The 32-byte ICMPv6 unsolicited neighbour advertisement for `address` owned by `mac`: type 136,
 * flags Override (and Router if asked), target = address, option 2 (target link-layer address) = mac.
 */
export function buildUnsolicitedNa(mac: string | Uint8Array, address: string, options: NaOptions = {}): Buffer {
  const hw = parseMac(mac);
  const target = ipv6Bytes(address);
  const msg = Buffer.alloc(32);
  msg[0] = ICMPV6_NEIGHBOR_ADVERT;
  msg[1] = 0; // code
  // msg[2..3] checksum
  msg[4] = (options.router ? 0x80 : 0) | 0x20; // R, S = 0 (unsolicited), O = 1
  target.copy(msg, 8);
  msg[24] = 2; // option: target link-layer address
  msg[25] = 1; // length in units of 8 bytes
  hw.copy(msg, 26);
  if (options.source !== undefined) {
    msg.writeUInt16BE(icmpv6Checksum(options.source, options.destination ?? ALL_NODES, msg), 2);
  }
  return msg;
}

/** The ICMPv6 checksum of `message` (its checksum field taken as zero) with the RFC 8200 pseudo-header. */
export function icmpv6Checksum(source: string, destination: string, message: Uint8Array): number {
  const pseudo = Buffer.alloc(40);
  ipv6Bytes(source).copy(pseudo, 0);
  ipv6Bytes(destination).copy(pseudo, 16);
  pseudo.writeUInt32BE(message.length, 32);
  pseudo[39] = 58; // next header: ICMPv6
  let sum = 0;
  const add = (bytes: Uint8Array, skipChecksumAt: number) => {
    for (let i = 0; i < bytes.length; i += 2) {
      if (i === skipChecksumAt) continue;
      sum += (bytes[i]! << 8) | (i + 1 < bytes.length ? bytes[i + 1]! : 0);
    }
  };
  add(pseudo, -1);
  add(message, 2);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
