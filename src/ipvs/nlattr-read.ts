/**
 * Netlink messages read, pure: attributes (parseAttrs, AttrIndex, the get* readers), netlink and generic
 * netlink headers, and the NLMSG_ERROR payload. Integers marked "host" follow the machine's byte order, as
 * the kernel's do; "be" are network order. Readers never trust their input: anything short or inconsistent
 * raises LvsdError('LVSD_IPVS_PROTOCOL', "<what>: <why>").
 */
import { LvsdError } from '../errors.js';
import { GENL_HDRLEN, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLMSG_HDRLEN } from './constants.js';
import { LE, NLA_HDRLEN, align4 } from './nlattr.js';

const NLA_TYPE_MASK = 0x3fff;

export function protocolError(what: string, why: string): LvsdError {
  return new LvsdError('LVSD_IPVS_PROTOCOL', `${what}: ${why}`);
}

/** Attributes by type (the last one wins when a type repeats). */
export type Attrs = Map<number, Buffer>;

export function parseAttrs(buf: Buffer, what: string): Attrs {
  const out: Attrs = new Map();
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = readU16(buf, off);
    const type = readU16(buf, off + 2) & NLA_TYPE_MASK;
    if (len < NLA_HDRLEN) throw protocolError(what, `attribute ${type} has length ${len}, below the 4-byte header`);
    if (off + len > buf.length) throw protocolError(what, `attribute ${type} of ${len} bytes overruns the ${buf.length - off} left`);
    out.set(type, buf.subarray(off + NLA_HDRLEN, off + len));
    off += align4(len);
  }
  if (off < buf.length && !isZero(buf.subarray(off))) {
    throw protocolError(what, `${buf.length - off} trailing bytes do not make an attribute`);
  }
  return out;
}

/**
 * Attributes indexed by type without copying or slicing: the decoders of dumped real servers and their
 * statistics run a hundred thousand times per table read, where a Map of subarrays per message dominated.
 * Same checks and messages as parseAttrs and the get* readers. Types above `maxType` are skipped.
 */
export class AttrIndex {
  private readonly off: Int32Array;
  private readonly len: Int32Array;
  buf: Buffer = Buffer.alloc(0);
  constructor(readonly maxType: number) {
    this.off = new Int32Array(maxType + 1);
    this.len = new Int32Array(maxType + 1);
  }
  /**
   * Indexes the attributes in buf[start, end) (default: all of it), where a nest's payload lies in its
   * message: offsets stay the buffer's, and no view of the nest is made.
   */
  parse(buf: Buffer, what: string, start = 0, end = buf.length): this {
    this.buf = buf;
    this.off.fill(-1);
    let off = start;
    while (off + NLA_HDRLEN <= end) {
      const len = readU16(buf, off);
      const type = readU16(buf, off + 2) & NLA_TYPE_MASK;
      if (len < NLA_HDRLEN) throw protocolError(what, `attribute ${type} has length ${len}, below the 4-byte header`);
      if (off + len > end) throw protocolError(what, `attribute ${type} of ${len} bytes overruns the ${end - off} left`);
      if (type <= this.maxType) {
        this.off[type] = off + NLA_HDRLEN;
        this.len[type] = len - NLA_HDRLEN;
      }
      off += align4(len);
    }
    if (off < end && !isZero(buf.subarray(off, end))) {
      throw protocolError(what, `${end - off} trailing bytes do not make an attribute`);
    }
    return this;
  }
  /** Bytes of the payload (after at() or has()). */
  size(type: number): number {
    return this.len[type]!;
  }
  has(type: number): boolean {
    return this.off[type]! >= 0;
  }
  /** Offset of the payload, checked to hold `size` bytes. */
  at(type: number, size: number, what: string, name: string): number {
    const off = this.off[type]!;
    if (off < 0) throw protocolError(what, `${name} is missing`);
    const len = this.len[type]!;
    if (len < size) throw protocolError(what, `${name} has ${len} bytes, needs ${size}`);
    return off;
  }
  /** The payload (a view), or undefined when absent. */
  get(type: number): Buffer | undefined {
    const off = this.off[type]!;
    return off < 0 ? undefined : this.buf.subarray(off, off + this.len[type]!);
  }
  u8(type: number, what: string, name: string): number {
    return this.buf[this.at(type, 1, what, name)]!;
  }
  u16(type: number, what: string, name: string): number {
    return readU16(this.buf, this.at(type, 2, what, name));
  }
  be16(type: number, what: string, name: string): number {
    return this.buf.readUInt16BE(this.at(type, 2, what, name));
  }
  u32(type: number, what: string, name: string): number {
    return readU32(this.buf, this.at(type, 4, what, name));
  }
  s32(type: number, what: string, name: string): number {
    const off = this.at(type, 4, what, name);
    return LE ? this.buf.readInt32LE(off) : this.buf.readInt32BE(off);
  }
  /** A counter of 4 or 8 bytes as bigint; 0n when absent. */
  counter(type: number, what: string, name: string): bigint {
    const off = this.off[type]!;
    if (off < 0) return 0n;
    const len = this.len[type]!;
    if (len >= 8) return LE ? this.buf.readBigUInt64LE(off) : this.buf.readBigUInt64BE(off);
    if (len >= 4) return BigInt(readU32(this.buf, off));
    throw protocolError(what, `${name} has ${len} bytes, needs 4 or 8`);
  }
}

function isZero(b: Buffer): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

function readU16(b: Buffer, off: number): number {
  return LE ? b.readUInt16LE(off) : b.readUInt16BE(off);
}
function readU32(b: Buffer, off: number): number {
  return LE ? b.readUInt32LE(off) : b.readUInt32BE(off);
}

function need(b: Buffer | undefined, size: number, what: string, name: string): Buffer {
  if (b === undefined) throw protocolError(what, `${name} is missing`);
  if (b.length < size) throw protocolError(what, `${name} has ${b.length} bytes, needs ${size}`);
  return b;
}

export function getU8(a: Attrs, type: number, what: string, name: string): number {
  return need(a.get(type), 1, what, name).readUInt8(0);
}
export function getU16(a: Attrs, type: number, what: string, name: string): number {
  return readU16(need(a.get(type), 2, what, name), 0);
}
export function getBe16(a: Attrs, type: number, what: string, name: string): number {
  return need(a.get(type), 2, what, name).readUInt16BE(0);
}
export function getU32(a: Attrs, type: number, what: string, name: string): number {
  return readU32(need(a.get(type), 4, what, name), 0);
}
export function getS32(a: Attrs, type: number, what: string, name: string): number {
  const b = need(a.get(type), 4, what, name);
  return LE ? b.readInt32LE(0) : b.readInt32BE(0);
}
export function getBe32(a: Attrs, type: number, what: string, name: string): number {
  return need(a.get(type), 4, what, name).readUInt32BE(0);
}
/** A counter of 4 or 8 bytes, as bigint. */
export function getCounter(b: Buffer, what: string, name: string): bigint {
  if (b.length >= 8) return LE ? b.readBigUInt64LE(0) : b.readBigUInt64BE(0);
  if (b.length >= 4) return BigInt(readU32(b, 0));
  throw protocolError(what, `${name} has ${b.length} bytes, needs 4 or 8`);
}
export function getBytes(a: Attrs, type: number, size: number, what: string, name: string): Buffer {
  return need(a.get(type), size, what, name);
}
/** A string attribute, up to its first NUL. */
export function getStr(a: Attrs, type: number, what: string, name: string): string {
  const b = a.get(type);
  if (b === undefined) throw protocolError(what, `${name} is missing`);
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
}
export function hostU32At(b: Buffer, off: number): number {
  return readU32(b, off);
}
export function hostS32At(b: Buffer, off: number): number {
  return LE ? b.readInt32LE(off) : b.readInt32BE(off);
}

export interface NlMsg {
  type: number;
  flags: number;
  seq: number;
  port: number;
  /** The payload after the 16-byte header. */
  payload: Buffer;
}

/** Every netlink message of one datagram. */
export function parseNlmsgs(buf: Buffer): NlMsg[] {
  const out: NlMsg[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= buf.length) {
    const len = readU32(buf, off);
    if (len < NLMSG_HDRLEN) throw protocolError('netlink message', `length ${len} is below the 16-byte header`);
    if (off + len > buf.length) throw protocolError('netlink message', `length ${len} overruns the ${buf.length - off} bytes received`);
    out.push({
      type: readU16(buf, off + 4),
      flags: readU16(buf, off + 6),
      seq: readU32(buf, off + 8),
      port: readU32(buf, off + 12),
      payload: buf.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  if (off < buf.length) throw protocolError('netlink message', `${buf.length - off} bytes left, below the 16-byte header`);
  return out;
}

export interface GenlMsg {
  cmd: number;
  version: number;
  attrs: Attrs;
}

export function parseGenl(payload: Buffer, what: string): GenlMsg {
  if (payload.length < GENL_HDRLEN) throw protocolError(what, `generic netlink payload has ${payload.length} bytes, below the 4-byte header`);
  return { cmd: payload[0]!, version: payload[1]!, attrs: parseAttrs(payload.subarray(GENL_HDRLEN), what) };
}

export interface NlErr {
  /** Positive errno; 0 is an acknowledgement. */
  errno: number;
  /** The sequence number of the request this answers (from the echoed header). */
  seq: number;
  /** The kernel's extended-ack message, when it sent one. */
  message?: string;
}

/** The payload of an NLMSG_ERROR: s32 error, the echoed request header (and maybe its payload), maybe TLVs. */
export function parseNlmsgerr(payload: Buffer, flags: number): NlErr {
  if (payload.length < 4 + NLMSG_HDRLEN) throw protocolError('netlink error message', `has ${payload.length} bytes, needs 20`);
  const error = LE ? payload.readInt32LE(0) : payload.readInt32BE(0);
  const echoedLen = readU32(payload, 4);
  const seq = readU32(payload, 12);
  const out: NlErr = { errno: -error, seq };
  if (flags & NLM_F_ACK_TLVS) {
    const skip = 4 + (flags & NLM_F_CAPPED ? NLMSG_HDRLEN : align4(echoedLen));
    if (skip <= payload.length) {
      try {
        const tlv = parseAttrs(payload.subarray(skip), 'netlink extended ack');
        const msg = tlv.get(1); // NLMSGERR_ATTR_MSG
        if (msg) out.message = getStr(tlv, 1, 'netlink extended ack', 'message');
      } catch {
        // the extended ack is a courtesy; a malformed one must not hide the errno
      }
    }
  }
  return out;
}
