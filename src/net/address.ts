/**
 * IP addresses as lvsd holds them: a family and the canonical text (dotted quad, or RFC 5952 IPv6),
 * with pure conversions to and from the network-order bytes that netlink and VRRP carry.
 */
export type Family = 'ipv4' | 'ipv6';

export const AF_INET = 2;
export const AF_INET6 = 10;

export function familyOf(address: string): Family | undefined {
  if (ipv4Value(address) >= 0) return 'ipv4';
  if (isIPv6(address)) return 'ipv6';
  return undefined;
}

export function afOf(family: Family): number {
  return family === 'ipv4' ? AF_INET : AF_INET6;
}

export function familyOfAf(af: number): Family | undefined {
  return af === AF_INET ? 'ipv4' : af === AF_INET6 ? 'ipv6' : undefined;
}

/**
 * The four octets of a dotted quad as node's isIPv4 accepts it (1-3 digits a part, no leading zero, 0-255),
 * or undefined. A hand parser: encoding tens of thousands of real servers, isIPv4 and split/map dominated.
 */
export function parseIPv4(text: string): [number, number, number, number] | undefined {
  const out: [number, number, number, number] = [0, 0, 0, 0];
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46; // a '.' after the end closes the last part
    if (c === 46) {
      if (digits === 0 || part > 3) return undefined;
      out[part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && value === 0) return undefined; // leading zero
      value = value * 10 + (c - 48);
      if (++digits > 3 || value > 255) return undefined;
    } else {
      return undefined;
    }
  }
  return part === 4 ? out : undefined;
}

/**
 * A dotted quad's value as an unsigned 32-bit number, or -1 when `text` is not one: parseIPv4's rules (node's
 * isIPv4: 1-3 digits a part, no leading zero, 0-255) without the array it returns: what a yes or no, or
 * the bytes written in place, need (a cold `lvsd apply` reads each real server's address four times).
 */
export function ipv4Value(text: string): number {
  let value = 0;
  let part = 0;
  let parts = 0;
  let digits = 0;
  const n = text.length;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 46; // a '.' after the end closes the last part
    if (c === 46) {
      if (digits === 0 || parts > 3) return -1;
      value = value * 256 + part;
      parts++;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return -1; // leading zero
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return -1;
    } else {
      return -1;
    }
  }
  return parts === 4 ? value : -1;
}

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const ZONE = /^[0-9a-zA-Z.:-]+$/;

/**
 * Whether `text` is an IPv6 address as node's net.isIPv6 says (test/unit/net-address-ipv6.test.ts holds the
 * two to the same answers): eight groups of 1-4 hex digits, or fewer around one `::` standing for at least
 * one, the last two possibly a dotted quad, then optionally a zone (`%` and letters, digits, `-`, `.`, `:`).
 * By hand because node:net brings node's streams with it (~25 internal modules): `lvsd check` reads
 * addresses and nothing else of net (issue #11, fast start).
 */
export function isIPv6(text: string): boolean {
  let address = text;
  const zone = address.indexOf('%');
  if (zone >= 0) {
    if (!ZONE.test(address.slice(zone + 1))) return false;
    address = address.slice(0, zone);
  }
  const halves = address.split('::');
  if (halves.length > 2) return false;
  if (halves.length === 1) return groupCount(address, true) === 8;
  const hi = groupCount(halves[0]!, false);
  const lo = groupCount(halves[1]!, true);
  return hi >= 0 && lo >= 0 && hi + lo <= 7;
}

/** The 16-bit groups `part` (colon-separated) stands for, a dotted quad last as two when `last`; -1 if not groups. */
function groupCount(part: string, last: boolean): number {
  if (part === '') return 0;
  const groups = part.split(':');
  let n = 0;
  for (let i = 0; i < groups.length; i++) {
    const g = groups[i]!;
    if (last && i === groups.length - 1 && g.includes('.')) {
      if (!parseIPv4(g)) return -1;
      n += 2;
    } else if (HEX_GROUP.test(g)) {
      n++;
    } else {
      return -1;
    }
  }
  return n;
}

/** Bytes of an address in network order: 4 for IPv4, 16 for IPv6. Throws on text that is not an address. */
export function addressToBytes(address: string): Buffer {
  const v4 = parseIPv4(address);
  if (v4) return Buffer.from(v4);
  if (!isIPv6(address)) throw new TypeError(`not an IP address: ${JSON.stringify(address)}`);
  let text = address;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    // embedded IPv4 (::ffff:192.0.2.1)
    tail = [...addressToBytes(text.slice(lastColon + 1))];
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((h) => parseInt(h, 16)));
  const hi = parse(head);
  const lo = rest === undefined ? [] : parse(rest);
  const groups = rest === undefined ? hi : [...hi, ...new Array(8 - hi.length - lo.length).fill(0), ...lo];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  if (tail.length === 4) Buffer.from(tail).copy(out, 12);
  return out;
}

/** Canonical text of an address from its bytes (RFC 5952 for IPv6: lowercase, longest zero run compressed). */
export function bytesToAddress(family: Family, bytes: Uint8Array): string {
  if (family === 'ipv4') {
    if (bytes.length < 4) throw new RangeError(`IPv4 address needs 4 bytes, got ${bytes.length}`);
    return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  }
  if (bytes.length < 16) throw new RangeError(`IPv6 address needs 16 bytes, got ${bytes.length}`);
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[i * 2]! << 8) | bytes[i * 2 + 1]!);
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLen).join(':');
  return `${left}::${right}`;
}

/** The canonical text of an address, or undefined when the text is not an IP address. */
export function canonicalAddress(address: string): string | undefined {
  if (ipv4Value(address) >= 0) return address; // a dotted quad without leading zeros is its own canonical text
  const family = familyOf(address);
  if (!family) return undefined;
  return bytesToAddress(family, addressToBytes(address));
}

/** "192.0.2.1:80" or "[2001:db8::1]:80". */
export function formatHostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
