/**
 * Netlink framing, pure: attributes (TLV, 4-byte aligned), netlink and generic netlink headers, and the
 * NLMSG_ERROR payload. Integers marked "host" follow the machine's byte order, as the kernel's do; "be" are
 * network order. Readers never trust their input: anything short or inconsistent raises
 * LvsdError('LVSD_IPVS_PROTOCOL', "<what>: <why>").
 */
import { endianness } from 'node:os';
import { LvsdError } from '../errors.js';
import { GENL_HDRLEN, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLMSG_HDRLEN } from './constants.js';
import { addressToBytes, parseIPv4 } from '../net/address.js';

const LE = endianness() === 'LE';
const NLA_HDRLEN = 4;
const NLA_TYPE_MASK = 0x3fff;

export const align4 = (n: number): number => (n + 3) & ~3;

export function protocolError(what: string, why: string): LvsdError {
  return new LvsdError('LVSD_IPVS_PROTOCOL', `${what}: ${why}`);
}

// ---- writing -------------------------------------------------------------------------------------------

/** `int`: a u32 on the wire that the kernel reads as a C int (a destination's weight): 0..2^31-1. */
const FIELD_MAX = { u8: 0xff, u16: 0xffff, u32: 0xffffffff, int: 0x7fffffff } as const;
export type UintField = keyof typeof FIELD_MAX;

/**
 * `v` when it fits an unsigned field of this width (an integer, 0..max), else LvsdError LVSD_IPVS_ENCODE
 * naming the attribute: a value must never wrap on its way to the kernel (4294967297 s going out as 1 s).
 */
export function fit(v: number, field: UintField, name: string): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= FIELD_MAX[field]) return v;
  throw new LvsdError('LVSD_IPVS_ENCODE', `${name}: ${String(v)} does not fit the attribute (${field}: an integer 0..${FIELD_MAX[field]})`, {
    details: { attribute: name, value: String(v), field },
  });
}

/** One attribute: header, payload, zero padding to 4 bytes. */
export function attr(type: number, payload: Uint8Array): Buffer {
  const len = NLA_HDRLEN + payload.length;
  if (len > 0xffff) throw new RangeError(`netlink attribute ${type} too long (${len} bytes)`);
  const out = Buffer.alloc(align4(len));
  writeU16(out, len, 0);
  writeU16(out, type, 2);
  out.set(payload, NLA_HDRLEN);
  return out;
}

/** A nested attribute holding `children` (already encoded attributes). No NLA_F_NESTED, as the kernel's own dumps. */
export function nest(type: number, children: readonly Buffer[]): Buffer {
  return attr(type, Buffer.concat(children));
}

// The integer writers take the attribute's name for the error when the value does not fit (see fit()).
export function u8(type: number, v: number, name: string): Buffer {
  return attr(type, Buffer.of(fit(v, 'u8', name)));
}
export function u16(type: number, v: number, name: string): Buffer {
  const b = Buffer.alloc(2);
  writeU16(b, fit(v, 'u16', name), 0);
  return attr(type, b);
}
export function be16(type: number, v: number, name: string): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(fit(v, 'u16', name), 0);
  return attr(type, b);
}
export function u32(type: number, v: number, name: string): Buffer {
  const b = Buffer.alloc(4);
  writeU32(b, fit(v, 'u32', name), 0);
  return attr(type, b);
}
export function be32(type: number, v: number, name: string): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(fit(v, 'u32', name), 0);
  return attr(type, b);
}
/** A NUL-terminated string. */
export function str(type: number, s: string): Buffer {
  return attr(type, Buffer.concat([Buffer.from(s, 'utf8'), Buffer.of(0)]));
}

function writeU16(b: Buffer, v: number, off: number): void {
  if (LE) b.writeUInt16LE(v, off);
  else b.writeUInt16BE(v, off);
}
function writeU32(b: Buffer, v: number, off: number): void {
  if (LE) b.writeUInt32LE(v, off);
  else b.writeUInt32BE(v, off);
}
export function hostU32(v: number, name: string): Buffer {
  const b = Buffer.alloc(4);
  writeU32(b, fit(v, 'u32', name), 0);
  return b;
}

/** A whole netlink message: 16-byte header (length, type, flags, seq, port id 0) then the payload. */
export function nlmsg(type: number, flags: number, seq: number, payload: Uint8Array): Buffer {
  const out = Buffer.alloc(NLMSG_HDRLEN + payload.length);
  writeU32(out, out.length, 0);
  writeU16(out, type, 4);
  writeU16(out, flags, 6);
  writeU32(out, seq >>> 0, 8);
  writeU32(out, 0, 12);
  out.set(payload, NLMSG_HDRLEN);
  return out;
}

/** A generic netlink message: netlink header, genl header {cmd, version, reserved}, then the attributes. */
export function genlmsg(family: number, flags: number, seq: number, cmd: number, version: number, attrs: readonly Buffer[]): Buffer {
  let len = NLMSG_HDRLEN + GENL_HDRLEN;
  for (const a of attrs) len += a.length;
  const out = Buffer.alloc(len);
  writeU32(out, len, 0);
  writeU16(out, family, 4);
  writeU16(out, flags, 6);
  writeU32(out, seq >>> 0, 8);
  out[NLMSG_HDRLEN] = cmd;
  out[NLMSG_HDRLEN + 1] = version;
  let off = NLMSG_HDRLEN + GENL_HDRLEN;
  for (const a of attrs) {
    out.set(a, off);
    off += a.length;
  }
  return out;
}

/**
 * Writes attributes into one preallocated buffer: the fast path for the encoders that run once per real
 * server (one allocation per message part instead of one per attribute). Same bytes as attr()/nest().
 */
export class AttrWriter {
  readonly buf: Buffer;
  off = 0;
  constructor(size: number) {
    this.buf = Buffer.alloc(size);
  }
  private header(type: number, payloadLen: number): void {
    writeU16(this.buf, NLA_HDRLEN + payloadLen, this.off);
    writeU16(this.buf, type, this.off + 2);
    this.off += NLA_HDRLEN;
  }
  /** Opens a nest; returns its offset for end(). */
  begin(type: number): number {
    const at = this.off;
    this.header(type, 0);
    return at;
  }
  end(at: number): void {
    writeU16(this.buf, this.off - at, at);
  }
  u8(type: number, v: number, name: string): this {
    const x = fit(v, 'u8', name);
    this.header(type, 1);
    this.buf[this.off] = x;
    this.off += 4;
    return this;
  }
  u16(type: number, v: number, name: string): this {
    const x = fit(v, 'u16', name);
    this.header(type, 2);
    writeU16(this.buf, x, this.off);
    this.off += 4;
    return this;
  }
  be16(type: number, v: number, name: string): this {
    const x = fit(v, 'u16', name);
    this.header(type, 2);
    this.buf.writeUInt16BE(x, this.off);
    this.off += 4;
    return this;
  }
  u32(type: number, v: number, name: string): this {
    const x = fit(v, 'u32', name);
    this.header(type, 4);
    writeU32(this.buf, x, this.off);
    this.off += 4;
    return this;
  }
  bytes(type: number, payload: Uint8Array): this {
    this.header(type, payload.length);
    this.buf.set(payload, this.off);
    this.off += align4(payload.length);
    return this;
  }
  /** A 16-byte address attribute (IPv4 in the first 4 bytes), written in place. */
  addr16(type: number, address: string): this {
    this.header(type, 16);
    const v4 = parseIPv4(address);
    if (v4) {
      this.buf[this.off] = v4[0];
      this.buf[this.off + 1] = v4[1];
      this.buf[this.off + 2] = v4[2];
      this.buf[this.off + 3] = v4[3];
    } else {
      this.buf.set(addressToBytes(address), this.off);
    }
    this.off += 16;
    return this;
  }
  /** The netlink and generic netlink headers of a message filling the whole buffer (call first). */
  genlHeader(family: number, flags: number, seq: number, cmd: number, version: number): this {
    writeU32(this.buf, this.buf.length, 0);
    writeU16(this.buf, family, 4);
    writeU16(this.buf, flags, 6);
    writeU32(this.buf, seq >>> 0, 8);
    this.buf[NLMSG_HDRLEN] = cmd;
    this.buf[NLMSG_HDRLEN + 1] = version;
    this.off = NLMSG_HDRLEN + GENL_HDRLEN;
    return this;
  }
  be32(type: number, v: number, name: string): this {
    const x = fit(v, 'u32', name);
    this.header(type, 4);
    this.buf.writeUInt32BE(x, this.off);
    this.off += 4;
    return this;
  }
  /** Two host-order u32 in one attribute ({flags, mask}). */
  u32pair(type: number, a: number, b: number, name: string): this {
    const x = fit(a, 'u32', name);
    const y = fit(b, 'u32', name);
    this.header(type, 8);
    writeU32(this.buf, x, this.off);
    writeU32(this.buf, y, this.off + 4);
    this.off += 8;
    return this;
  }
  /** A NUL-terminated string. */
  str(type: number, s: string): this {
    const n = Buffer.byteLength(s, 'utf8');
    if (this.off + NLA_HDRLEN + align4(n + 1) > this.buf.length) throw new RangeError(`netlink attribute ${type}: no room for ${n} bytes`);
    this.header(type, n + 1);
    this.buf.write(s, this.off, 'utf8');
    this.buf.fill(0, this.off + n, this.off + align4(n + 1));
    this.off += align4(n + 1);
    return this;
  }
  /**
   * Starts a netlink message at the current position (several may follow each other in one buffer, as
   * in a datagram); endMessage(start) writes its length once its payload is written.
   */
  beginNlmsg(type: number, flags: number, seq: number): number {
    const start = this.off;
    writeU16(this.buf, type, start + 4);
    writeU16(this.buf, flags, start + 6);
    writeU32(this.buf, seq >>> 0, start + 8);
    writeU32(this.buf, 0, start + 12);
    this.off = start + NLMSG_HDRLEN;
    return start;
  }
  /** beginNlmsg, then the generic netlink header {cmd, version, reserved}. */
  beginGenlmsg(family: number, flags: number, seq: number, cmd: number, version: number): number {
    const start = this.beginNlmsg(family, flags, seq);
    this.buf[this.off] = cmd;
    this.buf[this.off + 1] = version;
    this.buf[this.off + 2] = 0;
    this.buf[this.off + 3] = 0;
    this.off += GENL_HDRLEN;
    return start;
  }
  endMessage(start: number): void {
    writeU32(this.buf, this.off - start, start);
  }
  /** Already encoded attributes, copied as they are. */
  raw(encoded: Uint8Array): this {
    this.buf.set(encoded, this.off);
    this.off += encoded.length;
    return this;
  }
  /** The bytes written (a view of the buffer). */
  done(): Buffer {
    return this.off === this.buf.length ? this.buf : this.buf.subarray(0, this.off);
  }
}

// ---- reading -------------------------------------------------------------------------------------------

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
