/**
 * The few pieces of the DNS message format (RFC 1035 section 4) a health check needs: build a one-question
 * query, and read back a response's header and question. Pure; no sockets.
 */

export const QTYPES = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33 } as const;
export type QueryType = keyof typeof QTYPES;
export const CLASS_IN = 1;

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

export interface DnsHeader {
  id: number;
  /** QR bit: true for a response. */
  response: boolean;
  opcode: number;
  /** Authoritative answer. */
  aa: boolean;
  /** Truncated. */
  tc: boolean;
  rd: boolean;
  ra: boolean;
  rcode: number;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

export interface DnsMessage {
  header: DnsHeader;
  questions: DnsQuestion[];
}

export class DnsFormatError extends Error {}

/** Labels of a name, without the root: 'www.example.org.' -> ['www', 'example', 'org']. Throws on bad lengths. */
export function nameLabels(name: string): string[] {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  if (trimmed === '') return [];
  const labels = trimmed.split('.');
  for (const l of labels) {
    const len = Buffer.byteLength(l);
    if (len === 0 || len > 63) throw new DnsFormatError(`bad label in ${JSON.stringify(name)}`);
  }
  if (labels.reduce((n, l) => n + Buffer.byteLength(l) + 1, 1) > 255) throw new DnsFormatError('name longer than 255 bytes');
  return labels;
}

function encodeName(name: string): Buffer {
  const parts: Buffer[] = [];
  for (const l of nameLabels(name)) {
    const b = Buffer.from(l);
    parts.push(Buffer.from([b.length]), b);
  }
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** A standard query (opcode 0) with one question, recursion desired. */
export function encodeQuery(id: number, name: string, type: number, opts: { rd?: boolean } = {}): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(id & 0xffff, 0);
  head.writeUInt16BE(opts.rd === false ? 0 : 0x0100, 2);
  head.writeUInt16BE(1, 4);
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(type, 0);
  tail.writeUInt16BE(CLASS_IN, 2);
  return Buffer.concat([head, encodeName(name), tail]);
}

/** Encodes a header and questions (no records); a test responder uses it to build replies. */
export function encodeMessage(msg: DnsMessage): Buffer {
  const h = msg.header;
  const head = Buffer.alloc(12);
  head.writeUInt16BE(h.id & 0xffff, 0);
  const flags =
    (h.response ? 0x8000 : 0) | ((h.opcode & 0xf) << 11) | (h.aa ? 0x0400 : 0) | (h.tc ? 0x0200 : 0) |
    (h.rd ? 0x0100 : 0) | (h.ra ? 0x0080 : 0) | (h.rcode & 0xf);
  head.writeUInt16BE(flags, 2);
  head.writeUInt16BE(msg.questions.length, 4);
  head.writeUInt16BE(h.ancount, 6);
  head.writeUInt16BE(h.nscount, 8);
  head.writeUInt16BE(h.arcount, 10);
  const qs = msg.questions.map((q) => {
    const t = Buffer.alloc(4);
    t.writeUInt16BE(q.type, 0);
    t.writeUInt16BE(q.class, 2);
    return Buffer.concat([encodeName(q.name), t]);
  });
  return Buffer.concat([head, ...qs]);
}

export function decodeHeader(buf: Uint8Array): DnsHeader {
  if (buf.length < 12) throw new DnsFormatError(`message of ${buf.length} bytes is shorter than a header`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const flags = b.readUInt16BE(2);
  return {
    id: b.readUInt16BE(0),
    response: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    aa: (flags & 0x0400) !== 0,
    tc: (flags & 0x0200) !== 0,
    rd: (flags & 0x0100) !== 0,
    ra: (flags & 0x0080) !== 0,
    rcode: flags & 0xf,
    qdcount: b.readUInt16BE(4),
    ancount: b.readUInt16BE(6),
    nscount: b.readUInt16BE(8),
    arcount: b.readUInt16BE(10),
  };
}

/** Reads a (possibly compressed) name at `offset`; returns it with the offset just past it. */
function decodeName(b: Buffer, offset: number): { name: string; next: number } {
  const labels: string[] = [];
  let pos = offset;
  let next = -1;
  for (let hops = 0; ; ) {
    if (pos >= b.length) throw new DnsFormatError('name runs past the message');
    const len = b[pos]!;
    if (len === 0) {
      if (next < 0) next = pos + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= b.length) throw new DnsFormatError('pointer runs past the message');
      if (next < 0) next = pos + 2;
      if (++hops > 64) throw new DnsFormatError('compression loop');
      pos = ((len & 0x3f) << 8) | b[pos + 1]!;
      continue;
    }
    if ((len & 0xc0) !== 0) throw new DnsFormatError('unknown label type');
    if (pos + 1 + len > b.length) throw new DnsFormatError('label runs past the message');
    labels.push(b.toString('utf8', pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  return { name: labels.join('.'), next };
}

/** Header and question section; answer records are not needed by the check and are not parsed. */
export function decodeMessage(buf: Uint8Array): DnsMessage {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const header = decodeHeader(b);
  const questions: DnsQuestion[] = [];
  let pos = 12;
  for (let i = 0; i < header.qdcount; i++) {
    const { name, next } = decodeName(b, pos);
    if (next + 4 > b.length) throw new DnsFormatError('question runs past the message');
    questions.push({ name, type: b.readUInt16BE(next), class: b.readUInt16BE(next + 2) });
    pos = next + 4;
  }
  return { header, questions };
}

/** Same name in DNS terms: case-insensitive, trailing dot ignored. */
export function sameName(a: string, b: string): boolean {
  const norm = (s: string) => (s.endsWith('.') ? s.slice(0, -1) : s).toLowerCase();
  return norm(a) === norm(b);
}
