/**
 * Netlink messages written, pure: attributes (TLV, 4-byte aligned), netlink and generic netlink headers,
 * built as Buffers or straight into one (AttrWriter); and the framing's sizes and byte order, which the
 * reader (nlattr-read.ts) shares. Integers marked "host" follow the machine's byte order, as the kernel's
 * do; "be" are network order. A value that does not fit its attribute raises LvsdError('LVSD_IPVS_ENCODE').
 */
import { endianness } from 'node:os';
import { LvsdError } from '../errors.js';
import { GENL_HDRLEN, NLMSG_HDRLEN } from './constants.js';
import { addressToBytes, ipv4Value } from '../net/address.js';

/** Whether the host (and so the kernel's "host" integers) is little-endian. */
export const LE = endianness() === 'LE';
/** An attribute's header: u16 length, u16 type. */
export const NLA_HDRLEN = 4;

export const align4 = (n: number): number => (n + 3) & ~3;

/** `int`: a u32 on the wire that the kernel reads as a C int (a destination's weight): 0..2^31-1. */
const FIELD_MAX = { u8: 0xff, u16: 0xffff, u32: 0xffffffff, int: 0x7fffffff } as const;
export type UintField = keyof typeof FIELD_MAX;

/**
 * `v` when it fits an unsigned field of this width (an integer, 0..max), else LvsdError LVSD_IPVS_ENCODE
 * naming the attribute: a value must never wrap on its way to the kernel (4294967297 s going out as 1 s).
 */
export function fit(v: number, field: UintField, name: string): number {
  // exact integer range tests without a call: (v & 0xff) === v holds only for integers 0..0xff, v >>> 0 === v
  // only for 0..2^32-1, (v | 0) === v && v >= 0 only for 0..2^31-1 (NaN, fractions, infinities fail each)
  if (typeof v === 'number') {
    switch (field) {
      case 'u8': if ((v & 0xff) === v) return v; break;
      case 'u16': if ((v & 0xffff) === v) return v; break;
      case 'u32': if (v >>> 0 === v) return v; break;
      case 'int': if ((v | 0) === v && v >= 0) return v; break;
    }
  }
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

// Stores byte by byte (the value already fits: fit() or a length the caller bounded): Buffer's writeUInt16LE
// and friends check their arguments on every call, which cost more than the store in a cold process.
function writeU16(b: Uint8Array, v: number, off: number): void {
  if (LE) {
    b[off] = v;
    b[off + 1] = v >>> 8;
  } else {
    b[off] = v >>> 8;
    b[off + 1] = v;
  }
}
function writeU32(b: Uint8Array, v: number, off: number): void {
  if (LE) {
    b[off] = v;
    b[off + 1] = v >>> 8;
    b[off + 2] = v >>> 16;
    b[off + 3] = v >>> 24;
  } else {
    writeBe32(b, v, off);
  }
}
function writeBe16(b: Uint8Array, v: number, off: number): void {
  b[off] = v >>> 8;
  b[off + 1] = v;
}
function writeBe32(b: Uint8Array, v: number, off: number): void {
  b[off] = v >>> 24;
  b[off + 1] = v >>> 16;
  b[off + 2] = v >>> 8;
  b[off + 3] = v;
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
    // the stores below do not check bounds (a typed array drops a store past its end): the room is checked here
    if (this.off + NLA_HDRLEN + align4(payloadLen) > this.buf.length) throw new RangeError(`netlink attribute ${type}: no room for ${payloadLen} bytes`);
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
    writeBe16(this.buf, x, this.off);
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
    const v4 = ipv4Value(address);
    if (v4 >= 0) {
      writeBe32(this.buf, v4, this.off);
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
    writeBe32(this.buf, x, this.off);
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
    if (start + NLMSG_HDRLEN + GENL_HDRLEN > this.buf.length) throw new RangeError(`netlink message: no room for its header at ${start}`);
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
  /**
   * Copies `bytes` (attributes whose headers are written and whose values are zero) at the writer's position
   * and returns where they start: the caller then stores the values in place with the put* methods, at
   * offsets it knows (writeDest: one copy and ten stores instead of ten attributes written one by one).
   */
  template(bytes: Uint8Array): number {
    const at = this.off;
    if (at + bytes.length > this.buf.length) throw new RangeError(`netlink attributes: no room for ${bytes.length} bytes`);
    this.buf.set(bytes, at);
    this.off = at + bytes.length;
    return at;
  }
  /** Stores into what template() copied (the value fits: fit() it first). */
  putU16(at: number, v: number): void {
    writeU16(this.buf, v, at);
  }
  putBe16(at: number, v: number): void {
    writeBe16(this.buf, v, at);
  }
  putU32(at: number, v: number): void {
    writeU32(this.buf, v, at);
  }
  putBe32(at: number, v: number): void {
    writeBe32(this.buf, v, at);
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
