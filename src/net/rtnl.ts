/**
 * rtnetlink messages lvsd sends and reads, pure: link and address requests out; link, address, error and
 * done messages in. The decoder never throws: whatever the bytes (truncated, garbage, a message type it does
 * not know), it returns values, a `malformed` item saying what was wrong where the bytes stop making sense.
 * Layouts from linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h. Integers in host order.
 */
import { endianness } from 'node:os';

const LE = endianness() === 'LE';

export const NLMSG_HDRLEN = 16;
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;
/** rtnetlink multicast groups (RTNLGRP_*), the numbers NETLINK_ADD_MEMBERSHIP takes. */
export const RTNLGRP_LINK = 1;

const IFINFOMSG_LEN = 16;
const IFADDRMSG_LEN = 8;
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_OPERSTATE = 16;
const IFLA_EXT_MASK = 29;
const IFLA_CARRIER = 33;
const RTEXT_FILTER_SKIP_STATS = 1 << 3;
const IFF_UP = 0x1;
const IFF_RUNNING = 0x40;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_LABEL = 3;
const IFA_FLAGS = 8;
export const IFA_F_SECONDARY = 0x01;
export const IFA_F_NODAD = 0x02;
export const IFA_F_DADFAILED = 0x08;
export const IFA_F_DEPRECATED = 0x20;
export const IFA_F_TENTATIVE = 0x40;

const OPERSTATES = ['unknown', 'notpresent', 'down', 'lowerlayerdown', 'testing', 'dormant', 'up'] as const;
export type OperState = (typeof OPERSTATES)[number];

/** A link as rtnetlink describes it. */
export interface RtLink {
  name: string;
  index: number;
  /** The link-layer address bytes (empty when the link has none). */
  address: Buffer;
  mtu: number;
  /** IFF_UP and IFF_RUNNING. */
  up: boolean;
  adminUp: boolean;
  carrier: boolean;
  operstate: OperState;
}

export interface RtAddress {
  /** AF_INET (2) or AF_INET6 (10). */
  af: number;
  prefixLength: number;
  index: number;
  scope: number;
  /** IFA_FLAGS when present (u32), else the u8 ifa_flags. */
  flags: number;
  /** IFA_LOCAL when present, else IFA_ADDRESS. */
  address?: Buffer;
  label?: string;
}

/** One decoded message, or where decoding stopped. */
export type RtItem =
  | { kind: 'link'; seq: number; link: RtLink; removed: boolean }
  | { kind: 'address'; seq: number; address: RtAddress; removed: boolean }
  /** NLMSG_ERROR: errno 0 is an acknowledgement. */
  | { kind: 'error'; seq: number; errno: number }
  /** NLMSG_DONE ends a dump; errno non-zero when the dump failed. */
  | { kind: 'done'; seq: number; errno: number }
  | { kind: 'other'; seq: number; type: number }
  /** Bytes that do not make a message (truncated, bad lengths): the rest of the datagram is dropped. */
  | { kind: 'malformed'; seq?: number; why: string };

function u16(b: Buffer, off: number): number {
  return LE ? b.readUInt16LE(off) : b.readUInt16BE(off);
}
function u32(b: Buffer, off: number): number {
  return LE ? b.readUInt32LE(off) : b.readUInt32BE(off);
}
function s32(b: Buffer, off: number): number {
  return LE ? b.readInt32LE(off) : b.readInt32BE(off);
}
function put16(b: Buffer, v: number, off: number): void {
  if (LE) b.writeUInt16LE(v, off);
  else b.writeUInt16BE(v, off);
}
function put32(b: Buffer, v: number, off: number): void {
  if (LE) b.writeUInt32LE(v, off);
  else b.writeUInt32BE(v, off);
}
const align4 = (n: number): number => (n + 3) & ~3;

/** Attributes by type (last wins), or why they do not parse. */
function attrs(b: Buffer): Map<number, Buffer> | string {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + 4 <= b.length) {
    const len = u16(b, off);
    const type = u16(b, off + 2) & 0x3fff;
    if (len < 4) return `attribute ${type} has length ${len}, below its 4-byte header`;
    if (off + len > b.length) return `attribute ${type} of ${len} bytes overruns the ${b.length - off} left`;
    out.set(type, b.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

function attrU8(a: Map<number, Buffer>, type: number): number | undefined {
  const v = a.get(type);
  return v && v.length >= 1 ? v[0] : undefined;
}
function attrU32(a: Map<number, Buffer>, type: number): number | undefined {
  const v = a.get(type);
  return v && v.length >= 4 ? u32(v, 0) : undefined;
}
function attrStr(a: Map<number, Buffer>, type: number): string | undefined {
  const v = a.get(type);
  if (!v) return undefined;
  const nul = v.indexOf(0);
  return v.subarray(0, nul < 0 ? v.length : nul).toString('utf8');
}

function decodeLink(p: Buffer): RtLink | string {
  if (p.length < IFINFOMSG_LEN) return `link message of ${p.length} bytes, below the 16-byte ifinfomsg`;
  const a = attrs(p.subarray(IFINFOMSG_LEN));
  if (typeof a === 'string') return a;
  const flags = u32(p, 8);
  return {
    name: attrStr(a, IFLA_IFNAME) ?? '',
    index: s32(p, 4),
    address: Buffer.from(a.get(IFLA_ADDRESS) ?? Buffer.alloc(0)),
    mtu: attrU32(a, IFLA_MTU) ?? 0,
    up: (flags & IFF_UP) !== 0 && (flags & IFF_RUNNING) !== 0,
    adminUp: (flags & IFF_UP) !== 0,
    carrier: attrU8(a, IFLA_CARRIER) === 1,
    operstate: OPERSTATES[attrU8(a, IFLA_OPERSTATE) ?? 0] ?? 'unknown',
  };
}

function decodeAddress(p: Buffer): RtAddress | string {
  if (p.length < IFADDRMSG_LEN) return `address message of ${p.length} bytes, below the 8-byte ifaddrmsg`;
  const a = attrs(p.subarray(IFADDRMSG_LEN));
  if (typeof a === 'string') return a;
  const bytes = a.get(IFA_LOCAL) ?? a.get(IFA_ADDRESS);
  const out: RtAddress = { af: p[0]!, prefixLength: p[1]!, flags: attrU32(a, IFA_FLAGS) ?? p[2]!, scope: p[3]!, index: u32(p, 4) };
  if (bytes) out.address = Buffer.from(bytes);
  const label = attrStr(a, IFA_LABEL);
  if (label !== undefined) out.label = label;
  return out;
}

/** Every message of one datagram, as values. Never throws. */
export function decodeRtnl(buf: Buffer): RtItem[] {
  const out: RtItem[] = [];
  let off = 0;
  while (off < buf.length) {
    if (buf.length - off < NLMSG_HDRLEN) {
      out.push({ kind: 'malformed', why: `${buf.length - off} bytes left, below the 16-byte message header` });
      break;
    }
    const len = u32(buf, off);
    const type = u16(buf, off + 4);
    const seq = u32(buf, off + 8);
    if (len < NLMSG_HDRLEN || off + len > buf.length) {
      out.push({ kind: 'malformed', seq, why: `message length ${len} does not fit the ${buf.length - off} bytes left` });
      break;
    }
    const p = buf.subarray(off + NLMSG_HDRLEN, off + len);
    off += align4(len);
    if (type === NLMSG_ERROR || type === NLMSG_DONE) {
      if (type === NLMSG_ERROR && p.length < 4) {
        out.push({ kind: 'malformed', seq, why: `error message of ${p.length} bytes, needs 4` });
        continue;
      }
      const errno = p.length >= 4 ? 0 - s32(p, 0) : 0;
      out.push({ kind: type === NLMSG_ERROR ? 'error' : 'done', seq, errno });
    } else if (type === RTM_NEWLINK || type === RTM_DELLINK) {
      const link = decodeLink(p);
      out.push(typeof link === 'string' ? { kind: 'malformed', seq, why: link } : { kind: 'link', seq, link, removed: type === RTM_DELLINK });
    } else if (type === RTM_NEWADDR || type === RTM_DELADDR) {
      const address = decodeAddress(p);
      out.push(typeof address === 'string' ? { kind: 'malformed', seq, why: address } : { kind: 'address', seq, address, removed: type === RTM_DELADDR });
    } else {
      out.push({ kind: 'other', seq, type });
    }
  }
  return out;
}

// ---- requests ------------------------------------------------------------------------------------------

function attr(type: number, payload: Uint8Array): Buffer {
  const out = Buffer.alloc(align4(4 + payload.length));
  put16(out, 4 + payload.length, 0);
  put16(out, type, 2);
  out.set(payload, 4);
  return out;
}
function u32Attr(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  put32(b, v, 0);
  return attr(type, b);
}

function message(type: number, flags: number, seq: number, parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const out = Buffer.alloc(NLMSG_HDRLEN + body.length);
  put32(out, out.length, 0);
  put16(out, type, 4);
  put16(out, flags, 6);
  put32(out, seq >>> 0, 8);
  out.set(body, NLMSG_HDRLEN);
  return out;
}

function ifinfomsg(index: number): Buffer {
  const b = Buffer.alloc(IFINFOMSG_LEN);
  if (LE) b.writeInt32LE(index, 4);
  else b.writeInt32BE(index, 4);
  return b;
}

/** RTM_GETLINK of one link by name (answered by one RTM_NEWLINK, or an error: ENODEV). */
export function getLinkRequest(seq: number, name: string): Buffer {
  return message(RTM_GETLINK, NLM_F_REQUEST, seq, [
    ifinfomsg(0),
    attr(IFLA_IFNAME, Buffer.concat([Buffer.from(name, 'utf8'), Buffer.of(0)])),
    u32Attr(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS),
  ]);
}

/** RTM_GETLINK dump of every link. */
export function dumpLinksRequest(seq: number): Buffer {
  return message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, [ifinfomsg(0), u32Attr(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS)]);
}

/** RTM_GETADDR dump, of one family (AF_INET 2, AF_INET6 10) or both (0). */
export function dumpAddressesRequest(seq: number, af: number): Buffer {
  const h = Buffer.alloc(IFADDRMSG_LEN);
  h[0] = af;
  return message(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, [h]);
}

export interface AddressChange {
  af: number;
  prefixLength: number;
  index: number;
  scope?: number;
  /** ifa_flags and IFA_FLAGS. */
  flags?: number;
  local?: Uint8Array;
  address?: Uint8Array;
}

/** RTM_NEWADDR (create, EEXIST when there) or RTM_DELADDR, acknowledged. */
export function addressRequest(seq: number, op: 'add' | 'remove', a: AddressChange): Buffer {
  const h = Buffer.alloc(IFADDRMSG_LEN);
  h[0] = a.af;
  h[1] = a.prefixLength;
  h[2] = (a.flags ?? 0) & 0xff;
  h[3] = a.scope ?? 0;
  put32(h, a.index >>> 0, 4);
  const parts: Buffer[] = [h];
  if (a.local) parts.push(attr(IFA_LOCAL, a.local));
  if (a.address) parts.push(attr(IFA_ADDRESS, a.address));
  if (a.flags) parts.push(u32Attr(IFA_FLAGS, a.flags));
  const flags = NLM_F_REQUEST | NLM_F_ACK | (op === 'add' ? NLM_F_CREATE | NLM_F_EXCL : 0);
  return message(op === 'add' ? RTM_NEWADDR : RTM_DELADDR, flags, seq, parts);
}
